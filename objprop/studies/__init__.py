"""The book's studies: they compute and write JSON, nothing else (no tables, figures or
sentences: those are :mod:`objprop.present`'s, which reads what the studies wrote).

    scoring      one loader of a split (config, model, dataset, ground truth), one score of a
                 results list, a method scored on a split, runs scored per training seed
    stats        numbers over training seeds: mean ± std, paired differences, bootstrap
    fidelity     the fidelity section's runs (the paper's text, the authors' code, MaskTrack)
    oracle       Table 1's oracle hooks and study
    branch       the propagation branch on one frame pair, and its IoU against δ
    filling      the propagation oracle, the fill rule tuned on the tuning split, the funnel
    variants     the branch's training variants
    claims       the paper's claims, each with its evidence and a verdict by rule

Runs are keyed by role (:mod:`objprop.roles`), never by display name.
"""
