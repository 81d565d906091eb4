# The toy detector pre-trained on ToyCOCO's still images (`objprop pretrain`, `make pretrain`):
# the toy world's COCO Mask R-CNN. The model is the toy configs' own (configs/_base_/toy.py's
# toy_model: backbone, neck, RPN and RoI heads, their sizes and CPU options) as a plain Mask
# R-CNN, without the track head, so its checkpoint loads into every toy config through
# objprop.checkpoint.load_coco_init, the class-dependent layers re-sized (ToyCOCO's 12 classes
# here, ToyVIS's 5 there), as COCO's 80 are for YouTube-VIS's 40.
_base_ = ['./masktrack_rcnn_r18_fpn_toy.py']
num_classes = 12   # objprop.data.toycoco.CATEGORIES: ToyVIS's five and seven more
model = dict(
    type='ToyMaskRCNN',
    roi_head=dict(type='StandardRoIHead', track_head=None,
                  bbox_head=dict(num_classes=num_classes),
                  mask_head=dict(num_classes=num_classes)),
    # COCO's evaluation protocol scores up to 100 detections an image (the toy VIS configs
    # keep 10 a frame, as MaskTrack R-CNN)
    test_cfg=dict(rcnn=dict(max_per_img=100)))
dataset_type = 'ToyCOCODataset'
data_root = 'data/toycoco/'
# the toy pipelines (configs/_base_/toy.py: same size and normalisation) on still images:
# no instance ids to collect, no video keys in the image metas
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale={{_base_.img_scale}}, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', mean={{_base_.img_norm_cfg.mean}},
         std={{_base_.img_norm_cfg.std}}, to_rgb={{_base_.img_norm_cfg.to_rgb}}),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale={{_base_.img_scale}}, flip=False,
         transforms=[
             dict(type='Resize', keep_ratio=True),
             dict(type='Normalize', mean={{_base_.img_norm_cfg.mean}},
                  std={{_base_.img_norm_cfg.std}}, to_rgb={{_base_.img_norm_cfg.to_rgb}}),
             dict(type='Pad', size_divisor=32),
             dict(type='ImageToTensor', keys=['img']),
             dict(type='Collect', keys=['img']),
         ]),
]
data = dict(
    train=dict(_delete_=True, type=dataset_type,
               ann_file=data_root + 'annotations/instances_train.json',
               img_prefix=data_root + 'train/JPEGImages', pipeline=train_pipeline),
    val=dict(_delete_=True, type=dataset_type,
             ann_file=data_root + 'annotations/instances_valid.json',
             img_prefix=data_root + 'valid/JPEGImages', pipeline=test_pipeline,
             test_mode=True),
    test=dict(_delete_=True, type=dataset_type,
              ann_file=data_root + 'annotations/instances_valid.json',
              img_prefix=data_root + 'valid/JPEGImages', pipeline=test_pipeline,
              test_mode=True))
# The toy schedule (AdamW, warm-up, steps at 3/4 and 11/12) at the pretraining's length.
# PROVISIONAL: 1600 iterations (about 3 epochs of ToyCOCO's 1000 training images at batch 2),
# to be set where doubling it no longer moves the fine-tuned baseline (issue 35, item 2).
lr_config = dict(step=[1200, 1467])
runner = dict(max_iters=1600)
checkpoint_config = dict(interval=400)
load_from = None   # trained from scratch, as the toy configs' start (not from itself)
log_config = dict(interval=20)
