"""Seed-study permuted-CP ranks and the encoding pipeline's published defaults (METHODS.md 5.2-5.7), in a
module without dependencies so that the web layer and the CLI can show them without importing the encoding
pipeline (``compute.encoding`` imports scikit-learn, a slow import). ``compute.encoding`` re-exports them."""

DATASET_RANKS = {"retina": 16, "V1": 17}
#: Seed-study ranks of the FNN modules.
MODULE_RANKS = {"Enc L1": 8, "Enc L2": 12, "Enc L4": 11, "Enc L5": 11, "Enc L7": 13, "Enc L8": 11, "Rec": 9,
                "RecOut": 12, "Readout": 17, "Output": 14}
#: Restarts of the permuted CP (the authors' 50).
N_RESTARTS = 50
#: Named six-stimulus choices of the encoding tensor; "optSF" (model default) picks a set per unit.
STIMULUS_CHOICES = ("optSF", "bio-matched", "authors-lowsf", "authors-highsf")
#: Outliers (k_far, k_near) removed before IAN: the authors' values for model modules; none for biology.
MODEL_OUTLIERS, BIO_OUTLIERS = (3, 10), (0, 0)


def default_rank(kind: str, module: str | None) -> int | None:
    """The seed study's permuted-CP rank of a model module (``MODULE_RANKS``); None for a dataset (its
    manifold comes from the published factors, of fixed rank ``DATASET_RANKS``) and for a module the study
    did not decompose. ``kind``: "model" | "bio"."""
    return MODULE_RANKS.get(module) if kind == "model" else None
