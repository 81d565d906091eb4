# ObjProp R50-FPN on YouTube-VIS 2021 (40 categories, not 2019's forty; prepare_youtube_vis.py
# --root data/youtube_vis_2021).
_base_ = [
    '_base_/models/objprop_r50_fpn.py', '_base_/datasets/youtube_vis2021.py',
    '_base_/schedules/schedule_12e.py', '_base_/default_runtime.py',
]
load_from = 'checkpoints/mask_rcnn_r50_fpn_2x_coco.pth'
