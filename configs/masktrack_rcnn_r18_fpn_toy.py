# MaskTrack R-CNN sized for a CPU on the embedded ToyVIS data (the book's baseline).
_base_ = ['_base_/models/masktrack_rcnn_r50_fpn.py', '_base_/toy.py']
model = {{_base_.toy_model}}
