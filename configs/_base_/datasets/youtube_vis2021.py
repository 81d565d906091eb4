# YouTube-VIS 2021 in its official layout (frames at train/JPEGImages/, annotations at
# train/instances.json; prepare_youtube_vis.py writes the splits under annotations/)
_base_ = './youtube_vis.py'
data_root = 'data/youtube_vis_2021/'
data = dict(
    train=dict(ann_file=data_root + 'annotations/instances_train_sub.json',
               img_prefix=data_root + 'train/JPEGImages'),
    val=dict(ann_file=data_root + 'annotations/instances_minival.json',
             img_prefix=data_root + 'train/JPEGImages'),
    test=dict(ann_file=data_root + 'annotations/instances_minival.json',
              img_prefix=data_root + 'train/JPEGImages'))
