# YouTube-VIS 2019 in its official layout, frames resized to 640x360 (the paper's size).
dataset_type = 'YouTubeVISDataset'
data_root = 'data/youtube_vis_2019/'
img_scale = (640, 360)
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
    samples_per_gpu=6,
    workers_per_gpu=2,
    train=dict(type=dataset_type, ann_file=data_root + 'annotations/instances_train_sub.json',
               img_prefix=data_root + 'train/JPEGImages', pipeline=train_pipeline,
               ref_frame_range=(1, 5)),
    val=dict(type=dataset_type, ann_file=data_root + 'annotations/instances_minival.json',
             img_prefix=data_root + 'train/JPEGImages', pipeline=test_pipeline,
             test_mode=True),
    test=dict(type=dataset_type, ann_file=data_root + 'annotations/instances_minival.json',
              img_prefix=data_root + 'train/JPEGImages', pipeline=test_pipeline,
              test_mode=True))
