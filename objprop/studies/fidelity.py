"""The fidelity section's runs: the paper's text, the authors' code and MaskTrack R-CNN on the
same data and training budget; test-time variants on the same weights."""
from .. import roles
from .scoring import Run

# Test-time settings of the ObjProp authors' release (anirudh-chakravarthy/ObjProp at
# 34e9957): score 0.001 and 100 detections a frame in their test config, one-frame tracks
# dropped when writing results (mmdet/core/evaluation/coco_utils.py lines 231-232).
AUTHORS_TEST_OPTIONS = {"model.test_cfg.rcnn.score_thr": 0.001,
                        "model.test_cfg.rcnn.max_per_img": 100,
                        "test_results.min_frames": 2}

# the fidelity section's test-time variants of the baseline are scored on this many training
# seeds (the first): they isolate one setting on fixed weights, and each costs a full pass
# over the valid split, which the 45-minute budget of `make book` cannot pay three times
TEST_VARIANT_SEEDS = 1

# (role a, role b, what a − b isolates, equal training budget?): the differences the
# fidelity sentence reports; claims read the equal-budget ones only
FIDELITY_PAIRS = [
    (roles.BASELINE_GREEDY, roles.BASELINE,
     "this book's former greedy tracker instead of MaskTrack R-CNN's", True),
    (roles.BASELINE_AUTHORS_TEST, roles.BASELINE,
     "the authors' test settings alone, on the baseline's weights", True),
    (roles.AUTHORS_RELEASED, roles.CONTINUED_AUTHORS_TEST,
     "the authors' ObjProp as released against MaskTrack R-CNN trained on from the same "
     "checkpoint for the same iterations, both at the authors' test settings", True),
    (roles.AUTHORS_BASELINE_TEST, roles.CONTINUED,
     "the same comparison at MaskTrack R-CNN's test settings", True),
    (roles.AUTHORS_RELEASED, roles.BASELINE_AUTHORS_TEST,
     "the authors' ObjProp as released against the baseline at the same settings "
     "(UNEQUAL budget: the preset trained on top of the baseline's checkpoint)", False),
    (roles.CONTINUED, roles.BASELINE,
     "what the extra iterations alone give MaskTrack R-CNN (UNEQUAL budget: the size of "
     "the bias an unequal comparison carries)", False),
    (roles.AUTHORS_INTENDED, roles.AUTHORS_RELEASED, "their filling, switched on", True),
    (roles.FROM_BASELINE, roles.CONTINUED,
     "the paper's ObjProp fine-tuned as the authors' preset is (their recipe, the paper's "
     "design) against the equal-budget control", True),
    (roles.PAPER_TEXT, roles.BASELINE,
     "ObjProp as the paper describes it against MaskTrack R-CNN", True),
]


def fidelity_runs(baseline_config, config, authors_config, continued_config=None,
                  from_baseline_config=None):
    """The measured comparison of the fidelity section, as :class:`Run`s. The test-time
    variants reuse the same weights and run on the first ``TEST_VARIANT_SEEDS`` seeds. The
    authors' preset starts from the baseline's checkpoint; ``continued_config`` (MaskTrack
    R-CNN trained on from it for the same iterations) is its equal-budget control, scored at
    both test settings, and ``from_baseline_config`` the paper's ObjProp trained the same way.
    A config without a trained run scores nothing (its seeds are those ``train.json``
    holds)."""
    greedy = {"model.test_cfg.track.type": "GreedyTracker"}
    runs = [
        (roles.BASELINE, baseline_config, True, {},
         "MaskTrack R-CNN's own tracker and test thresholds"),
        (roles.BASELINE_GREEDY, baseline_config, True, greedy,
         "this book's former tracking rule, same weights", TEST_VARIANT_SEEDS),
        (roles.BASELINE_AUTHORS_TEST, baseline_config, True, AUTHORS_TEST_OPTIONS,
         "the authors' thresholds alone, same weights", TEST_VARIANT_SEEDS),
        (roles.PAPER_TEXT, config, True, {}, "the paper as written, with filling"),
        (roles.PAPER_TEXT_NO_FILL, config, False, {}, "same weights, filling off"),
        (roles.AUTHORS_RELEASED, authors_config, False, {},
         "their choices; inference as shipped: nothing propagated"),
        (roles.AUTHORS_INTENDED, authors_config, True, {},
         "their choices with their filling switched on", TEST_VARIANT_SEEDS),
        (roles.AUTHORS_BASELINE_TEST, authors_config, False,
         baseline_test_options(baseline_config),
         "their weights at MaskTrack R-CNN's test thresholds, nothing propagated")]
    if continued_config:
        runs += [(roles.CONTINUED, continued_config, True, {},
                  "trained on from the baseline's checkpoint: the preset's equal budget"),
                 (roles.CONTINUED_AUTHORS_TEST, continued_config, True, AUTHORS_TEST_OPTIONS,
                  "the same, at the authors' test settings")]
    if from_baseline_config:
        runs.append((roles.FROM_BASELINE, from_baseline_config, True, {},
                     "the paper's ObjProp trained on from the baseline's checkpoint"))
    return [Run(*r) for r in runs]


def baseline_test_options(baseline_config):
    """The ``--cfg-options`` that put the authors' test-time settings back to the
    baseline's (read from ``baseline_config``)."""
    from ..config import load_config
    cfg = load_config(baseline_config)
    return {"model.test_cfg.rcnn.score_thr": cfg.model.test_cfg.rcnn.score_thr,
            "model.test_cfg.rcnn.max_per_img": cfg.model.test_cfg.rcnn.max_per_img,
            "test_results.min_frames": cfg.get("test_results", {}).get("min_frames", 1)}
