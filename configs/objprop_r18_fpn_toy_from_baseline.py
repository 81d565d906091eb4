# ObjProp as the paper describes it, trained as the authors trained theirs: from the trained
# MaskTrack R-CNN checkpoint of the same seed (the propagation head starts initialised), for
# the preset's iterations and schedule. Against the equal-budget control
# (masktrack_rcnn_r18_fpn_toy_continued.py) it measures the paper's design with the authors'
# recipe; against the authors' preset, their design at the same recipe.
# The book's train chapter sets, per seed, --cfg-options load_from=<baseline checkpoint>.
_base_ = './objprop_r18_fpn_toy.py'
load_from = None
