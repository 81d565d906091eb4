# The paper's baseline: MaskTrack R-CNN R50-FPN on YouTube-VIS 2019, COCO Mask R-CNN init.
_base_ = [
    '_base_/models/masktrack_rcnn_r50_fpn.py', '_base_/datasets/youtube_vis.py',
    '_base_/schedules/schedule_12e.py', '_base_/default_runtime.py',
]
# mmdet's COCO Mask R-CNN R50-FPN checkpoint (download it yourself; the class-dependent
# layers are re-sized on load by objprop.checkpoint.load_coco_init)
load_from = 'checkpoints/mask_rcnn_r50_fpn_2x_coco.pth'
