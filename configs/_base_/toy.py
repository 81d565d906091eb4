# CPU-sized settings shared by the *_toy configs: ResNet-18 Mask R-CNN pre-trained on ToyCOCO
# (load_from, below), 64-channel FPN,
# ToyVIS frames at 288x160, batch 2, iteration-based schedule (minutes on 2 cores).
_base_ = ['./datasets/youtube_vis.py', './schedules/schedule_12e.py', './default_runtime.py']
num_classes = 5
# merged into the model by the *_toy configs: `model = {{_base_.toy_model}}`
# Speed on 2 cores without changing the model (benchmarks/profile_train.py shows where an
# iteration goes, benchmarks/bench_train.py the ratios): channels-last convolutions, and
# RoIAlign as objprop.models.roi_align.MatmulGradRoIAlign: torchvision's forward, equal to
# mmcv's CPU kernel to the last bit, and a backward computed as two matrix products, equal
# to the kernel's up to float32 rounding (tests/test_speed.py).
toy_model = dict(
    channels_last=True,
    # bf16 autocast of the backbone and FPN while training: about
    # 1.2x an iteration on this project's 2-core machines (benchmarks/bench_train.py).
    # Kept because the book's mAP stayed within float32's seed spread on the same machine
    # (benchmarks/check_bf16.py, 3 seeds, 400 iterations, 2026-11-26: the paired mean
    # bf16 - float32 was -1.4 mAP for MaskTrack R-CNN and -1.2 for ObjProp against seed
    # stds of 2.4 and 1.9). None: float32, as the paper configs train.
    train_feat_dtype='bfloat16',
    # bf16 autocast of the backbone and FPN at test time too (inference and every study's
    # pass over a split), with the propagation head's mask convolutions below: about 1.3x
    # an inference pass (benchmarks/bench_models.py). Kept because on the tuning split the
    # book's weights (3 seeds, MaskTrack R-CNN, ObjProp, the authors' preset) scored within
    # float32's seed spread (benchmarks/check_bf16.py --at-test, 2026-11-27: paired mean
    # bf16 - float32 -0.2, +0.1 and +0.3 mAP against seed stds of 1.9, 1.1 and 0.8; single
    # seeds moved up to 1.0). None: float32, as the paper configs test.
    test_feat_dtype='bfloat16',
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(type='RoILayerExtractor', out_channels=64,
                                roi_layer=dict(type='MatmulGradRoIAlign')),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(type='RoILayerExtractor', out_channels=64,
                                roi_layer=dict(type='MatmulGradRoIAlign')),
        mask_head=dict(in_channels=64, conv_out_channels=64, num_classes=num_classes),
        # bounded (cosine) match logits: see objprop/models/track_head.py
        track_head=dict(in_channels=64, fc_out_channels=256, normalize=True, scale=10.0)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=600, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)))
# ObjProp's extra parts at the toy size; test thresholds as the baseline's, so that the two
# models differ only by the propagation branch.
# feat_stride 8 (the authors' code's stride; the paper's text says 16): chosen on the tuning
# split by `make variants` (objprop.studies.variants.BRANCH_VARIANTS, seeds 0-2, 400 iterations,
# 2026-11-25): the mask propagated from the ground-truth box at t-1 reached a mean IoU of
# 0.51 ± 0.02 on easy and 0.16 ± 0.01 on hard frames at stride 8 against 0.40 ± 0.03 and
# 0.12 ± 0.02 at 16, beyond the seeds' spread, for 0.69 against 0.64 s/iteration. At 16 a
# ToyVIS object is two to four feature cells across.
toy_objprop_model = dict(
    toy_model,
    # train_conv_dtype: bf16 autocast of the mask head's convolutions while training, with
    # the backbone's (see toy_model): about 1.06x an ObjProp iteration once RoIAlign's
    # backward was cheap (two trainings side by side, 2026-11-27). Kept because the book's
    # mAP stayed within float32's seed spread (benchmarks/check_bf16.py --methods objprop,
    # 3 seeds, 400 iterations, 2026-11-27, results/precision_check.json: backbone, FPN and
    # this head in bf16 against all float32, paired mean -0.1 mAP against a seed std of 1.6)
    # test_conv_dtype: bf16 at test time, checked with the backbone's (see toy_model)
    prop_head=dict(in_channels=64, conv_channels=64, feat_stride=8,
                   train_conv_dtype='bfloat16', test_conv_dtype='bfloat16'),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100),
                  rcnn=dict(score_thr=0.05, max_per_img=10)))
data_root = 'data/toyvis/'
img_scale = (288, 160)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks', 'gt_ids']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=img_scale, flip=False,
         transforms=[
             dict(type='Resize', keep_ratio=True),
             dict(type='Normalize', **img_norm_cfg),
             dict(type='Pad', size_divisor=32),
             dict(type='ImageToTensor', keys=['img']),
             dict(type='Collect', keys=['img'],
                  meta_keys=('filename', 'ori_filename', 'ori_shape', 'img_shape',
                             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                             'img_norm_cfg', 'video_id', 'frame_id', 'is_first',
                             'vid_len')),
         ]),
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=0,
    train=dict(ann_file=data_root + 'annotations/instances_train.json',
               img_prefix=data_root + 'train/JPEGImages', pipeline=train_pipeline,
               ref_frame_range=(1, 3)),
    val=dict(ann_file=data_root + 'annotations/instances_valid.json',
             img_prefix=data_root + 'valid/JPEGImages', pipeline=test_pipeline),
    test=dict(ann_file=data_root + 'annotations/instances_valid.json',
              img_prefix=data_root + 'valid/JPEGImages', pipeline=test_pipeline))
# from scratch, batch 2: AdamW with warm-up and gradient clipping (the paper's SGD: schedule_12e)
# AdamW, not the paper's SGD: from scratch at batch 2, SGD (lr 0.02, 600 iterations) left the
# RPN and box head predicting background everywhere (0.0 mAP on ToyVIS valid), while AdamW
# reached 39.0 mAP (6 valid videos) after 300 iterations (measured 2026-11-25, seed 0).
# fused=True: torch's one-kernel AdamW on the CPU (the same update as the per-tensor loop)
optimizer = dict(_delete_=True, type='AdamW', lr=0.0003, weight_decay=0.05, fused=True)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
# 400 iterations (steps at 3/4 and 11/12, as the former 600-iteration schedule): the length
# that lets `make book` (two methods x 3 seeds, the authors' preset x 1) fit 45 minutes on
# 2 cores at the 0.57-0.65 s/iteration measured here (2026-11-25); the 600-iteration
# schedule took 43 minutes of training alone.
lr_config = dict(policy='step', by_epoch=False, warmup='linear', warmup_iters=50,
                 warmup_ratio=0.1,
                 step=[300, 367])
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=400)
checkpoint_config = dict(interval=200, by_epoch=False)
log_config = dict(interval=10)
base_batch_size = 2
auto_scale_lr = dict(enable=False, base_batch_size=2)
# The toy world's COCO start: the toy Mask R-CNN pre-trained on ToyCOCO's still images
# (configs/mask_rcnn_r18_fpn_toycoco.py; `make pretrain`, cached per machine), loaded as the
# paper configs load COCO's checkpoint (objprop.checkpoint.load_coco_init: class-dependent
# layers re-sized from ToyCOCO's 12 classes to ToyVIS's 5). objprop.checkpoint.resolve_pretrained
# turns the name into the cached file. From scratch: --cfg-options load_from=None.
load_from = 'pretrained://mask_rcnn_r18_fpn_toycoco'
dist_params = dict(backend='gloo')
