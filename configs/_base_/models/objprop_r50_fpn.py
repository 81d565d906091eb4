# ObjProp: MaskTrack R-CNN + the inter-frame attention propagation head (paper recipe).
_base_ = './masktrack_rcnn_r50_fpn.py'
model = dict(
    type='ObjProp',
    prop_head=dict(
        type='PropagationHead',
        in_channels=256, in_levels=(0, 1, 2, 3),   # FPN P2-P5
        feat_stride=16,                            # paper: stride 16 (authors' code: 8)
        feat_proj=None,                            # paper: none (authors' code: 'authors')
        affinity_norm='softmax', affinity_scale='sqrt',
        att_scale=1.0, learn_att_scale=True,       # 1.0 = paper's pair softmax at init
        att_target='mask', num_convs=4, conv_channels=256, max_instances=8,
        loss_prop_mask=dict(type='LogitsBCELoss', loss_weight=1.0),
        loss_prop_att=dict(type='AttentionBCELoss', loss_weight=1.0)),
    test_cfg=dict(
        # ObjProp's thresholds: score 0.001, 100 detections a frame
        rcnn=dict(score_thr=0.001, max_per_img=100),
        # this book's online filling (objprop/models/fillers.py)
        prop=dict(type='OnlineFiller', history_mode='last', max_fill=3, mask_thr=0.5,
                  min_area=16, suppress_iou=0.5, score_factor=1.0)))
