"""Published values of the seed study (Bertram et al., ICML 2026), for reference markers on the summary
figures. No dependencies, so the web layer can import it cheaply."""

#: Whole-trial 11-way logistic decoding accuracy of the official FNN's modules (METHODS.md section 4).
PUBLISHED_ACCURACY = {"Enc L1": 0.59, "Enc L2": 0.62, "Enc L4": 0.66, "Enc L8": 0.74, "Rec": 0.89, "RecOut": 0.90,
                      "Readout": 0.88, "Output": 0.77}
#: (S_tight, S_cross) in the seed figure: the biological datasets and the official FNN's modules
#: (METHODS.md section 6).
PUBLISHED_TUBULARITY = {"retina": (0.068, 1.29e-5), "V1": (0.135, 4.06e-5), "Enc L1": (0.201, 2.86e-4),
                        "Enc L8": (1.99, 1.75e-6), "Rec": (0.123, 2.3e-7), "RecOut": (0.121, 5.4e-7),
                        "Readout": (0.33, 3.9e-6), "Output": (0.148, 3.5e-6)}
