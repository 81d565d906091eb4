"""What each measured run *is* (its role: the key the library looks runs up by), and the one
table of display names the book's tables and sentences show for them.

A role is a plain identifier (letters, digits, ``_``): it names results files and folders as
it is. Renaming a row of the book is a change to :data:`NAMES` alone.
"""
BASELINE = "baseline"                        # MaskTrack R-CNN, its own tracker and thresholds
OBJPROP = "objprop"                          # ObjProp as this book trains and tests it
OBJPROP_NO_FILL = "objprop_no_fill"          # the same weights, filling off
PROP_ORACLE = "objprop_prop_oracle"          # filling off, then the propagation oracle's fills
TUNED_FILL = "objprop_tuned_fill"            # the fill rule chosen on the tuning split
AUTHORS = "authors"                          # the authors' preset (training)
BASELINE_GREEDY = "baseline_greedy"          # the baseline's weights, the greedy tracker
BASELINE_AUTHORS_TEST = "baseline_authors_test"  # the baseline's weights, authors' thresholds
PAPER_TEXT = "objprop_paper_text"            # the fidelity section's name for OBJPROP
PAPER_TEXT_NO_FILL = "objprop_paper_text_no_fill"
AUTHORS_RELEASED = "authors_released"        # the authors' preset, inference as shipped
AUTHORS_INTENDED = "authors_intended"        # the authors' preset, their filling switched on
AUTHORS_BASELINE_TEST = "authors_baseline_test"  # the preset's weights, the baseline's settings
# equal-budget controls: trained on from the baseline's checkpoint as the authors' preset is
CONTINUED = "baseline_continued"             # MaskTrack R-CNN trained on, same iterations
CONTINUED_AUTHORS_TEST = "baseline_continued_authors_test"  # ... at the authors' settings
FROM_BASELINE = "objprop_from_baseline"      # the paper's ObjProp, fine-tuned as the authors'

NAMES = {
    BASELINE: "MaskTrack R-CNN",
    OBJPROP: "ObjProp",
    OBJPROP_NO_FILL: "ObjProp (no filling)",
    PROP_ORACLE: "ObjProp + propagation oracle",
    TUNED_FILL: "ObjProp (tuned fill rule)",
    AUTHORS: "ObjProp (authors' code)",
    BASELINE_GREEDY: "MaskTrack R-CNN, greedy tracker",
    BASELINE_AUTHORS_TEST: "MaskTrack R-CNN, authors' test settings",
    PAPER_TEXT: "ObjProp (paper text)",
    PAPER_TEXT_NO_FILL: "ObjProp (paper text), no filling",
    AUTHORS_RELEASED: "ObjProp (authors' code, as released)",
    AUTHORS_INTENDED: "ObjProp (authors' code, filling as intended)",
    AUTHORS_BASELINE_TEST: "ObjProp (authors' code), MaskTrack R-CNN's test settings",
    CONTINUED: "MaskTrack R-CNN, trained on",
    CONTINUED_AUTHORS_TEST: "MaskTrack R-CNN, trained on, authors' test settings",
    FROM_BASELINE: "ObjProp (paper text), fine-tuned from MaskTrack R-CNN",
}

# the book's toy config of each trained role (the chapters' `baseline_config`, `config`,
# `authors_config`, `continued_config` and `from_baseline_config` parameters)
TOY_CONFIGS = {BASELINE: "configs/masktrack_rcnn_r18_fpn_toy.py",
               OBJPROP: "configs/objprop_r18_fpn_toy.py",
               AUTHORS: "configs/objprop_r18_fpn_authors_toy.py",
               CONTINUED: "configs/masktrack_rcnn_r18_fpn_toy_continued.py",
               FROM_BASELINE: "configs/objprop_r18_fpn_toy_from_baseline.py"}
# the trained roles that start from the baseline's checkpoint of the same seed (the authors
# trained their ObjProp on top of their trained MaskTrack R-CNN), and their equal-budget
# control
STARTS_FROM_BASELINE = (AUTHORS, CONTINUED, FROM_BASELINE)


def name(role):
    """The display name of ``role`` (a role not in the table is shown as it is)."""
    return NAMES.get(role, role)
