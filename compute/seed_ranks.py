"""Seed-study permuted-CP ranks (METHODS.md 5.5), in a module without dependencies so that the web layer
can show them as defaults without importing the encoding pipeline (``compute.encoding`` imports
scikit-learn, about 2 s). ``compute.encoding.manifold`` re-exports both tables."""

DATASET_RANKS = {"retina": 16, "V1": 17}
#: Seed-study ranks of the FNN modules.
MODULE_RANKS = {"Enc L1": 8, "Enc L2": 12, "Enc L4": 11, "Enc L5": 11, "Enc L7": 13, "Enc L8": 11, "Rec": 9,
                "RecOut": 12, "Readout": 17, "Output": 14}
