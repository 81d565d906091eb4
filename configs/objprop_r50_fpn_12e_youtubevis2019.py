# The paper's model: ObjProp R50-FPN on YouTube-VIS 2019 (36.0 mAP reported on val).
_base_ = [
    '_base_/models/objprop_r50_fpn.py', '_base_/datasets/youtube_vis.py',
    '_base_/schedules/schedule_12e.py', '_base_/default_runtime.py',
]
load_from = 'checkpoints/mask_rcnn_r50_fpn_2x_coco.pth'
