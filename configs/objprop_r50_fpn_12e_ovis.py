# ObjProp R50-FPN on OVIS (25 categories, heavy occlusion: the case propagation is for;
# prepare_youtube_vis.py --root data/ovis).
_base_ = [
    '_base_/models/objprop_r50_fpn.py', '_base_/datasets/ovis.py',
    '_base_/schedules/schedule_12e.py', '_base_/default_runtime.py',
]
load_from = 'checkpoints/mask_rcnn_r50_fpn_2x_coco.pth'
model = dict(roi_head=dict(bbox_head=dict(num_classes=25), mask_head=dict(num_classes=25)))
