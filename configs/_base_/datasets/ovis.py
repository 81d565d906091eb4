# OVIS in its official layout (frames at train/<video>/, annotations in
# annotations_train.json; prepare_youtube_vis.py writes the splits under annotations/)
_base_ = './youtube_vis.py'
data_root = 'data/ovis/'
data = dict(
    train=dict(ann_file=data_root + 'annotations/instances_train_sub.json',
               img_prefix=data_root + 'train'),
    val=dict(ann_file=data_root + 'annotations/instances_minival.json',
             img_prefix=data_root + 'train'),
    test=dict(ann_file=data_root + 'annotations/instances_minival.json',
              img_prefix=data_root + 'train'))
