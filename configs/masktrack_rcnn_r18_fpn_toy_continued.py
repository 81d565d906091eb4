# The equal-budget control of the authors' preset: MaskTrack R-CNN trained on from its own
# trained checkpoint for the same iterations and schedule as the preset, which starts from
# that checkpoint too (anirudh-chakravarthy/ObjProp, configs/
# masktrack_rcnn_r50_fpn_1x_youtubevos_objprop.py line 197: load_from their MaskTrack R-CNN).
# Without it the preset's gain over the baseline mixes its design with twice the training.
# The same model and schedule as the baseline; the book's train chapter sets, per seed,
# --cfg-options load_from=<that seed's baseline checkpoint> (weights only: a fresh optimizer
# and warm-up, as the preset gets).
_base_ = './masktrack_rcnn_r18_fpn_toy.py'
load_from = None
