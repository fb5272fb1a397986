"""Run a model on the stimulus suite and cache the responses of 2000 sampled units per module
(METHODS.md sections 2.2 and 2.3).

Every sequence runs from a reset state with neutral behaviour, frames / 255, batches of whole conditions
(all instances of a (class, direction) together), under ``torch.inference_mode``. A condition whose instances
are identical (a grating) runs once: its instance average is that run (``compute.stimuli.runs_per_condition``;
the full suite is 3 x 8 + 8 x 8 x 3 = 216 sequences). Responses are clip(mean over instances). Full
activations of a module over the suite do not fit in memory (Enc L1 alone is 128 x 64 x 96 values per frame,
7992 frames),
so extraction makes one pass over the suite that records every requested module through hooks:

- per spatial module, the streamed sampling scores (``compute.sampling.ScoreAccumulator``), which keep only
  per-batch time sums and a running max over conditions;
- per module, the instance-averaged time courses of every candidate unit, spilled to a file on disk (float32
  rows laid out (n_conditions, n_time, candidate_size), written with positional writes so that nothing of it
  counts in the resident memory) under ``settings.cache_dir / "tmp"``.

Units are drawn once the scores of the whole suite are known, and their responses are read back from the
spill files chunk by chunk. A module whose spill does not fit on the disk (free space minus
``SPILL_MARGIN_BYTES``; the full suite spills 28 GB for the ten FNN modules: Enc L1 and Enc L2 6.4 GB each,
Enc L4 and Enc L5 3.2 GB, Enc L7 and Enc L8 1.6 GB, Readout 5.2 GB (40 maps x 9941 output units), Rec and
RecOut 0.2 GB, Output 0.13 GB) is recorded in a second pass over the suite (``record_units``: only the
sampled units); results are bit-identical either way. Output modules draw their units
uniformly and need no scores (alone, they take one ``record_units`` pass). For models registered as
``truncatable`` each forward call stops after the last module read (Enc L1 alone costs a fraction of a full
forward).

``extract`` adds the content-addressed cache: modules already cached are skipped, each module is written
atomically when its responses are complete, concurrent identical requests compute once (per-module locks),
and CUDA work holds a cross-process lock.

Modules: ``hooks`` (what is read from a model), ``passes`` (running the suite), ``spill`` (spill files),
``cache`` (keys, ``extract``, ``load_responses``).
"""

from compute.extraction.cache import EXTRACTION_VERSION, GPU_LOCK, extract, load_responses, responses_key
from compute.extraction.passes import DEFAULT_BATCH, activity_scores, module_shapes, record_units
from compute.extraction.spill import SPILL_MARGIN_BYTES

__all__ = ["DEFAULT_BATCH", "EXTRACTION_VERSION", "GPU_LOCK", "SPILL_MARGIN_BYTES", "activity_scores", "extract",
           "load_responses", "module_shapes", "record_units", "responses_key"]
