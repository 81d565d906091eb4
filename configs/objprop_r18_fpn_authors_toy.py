# The authors' preset (configs/objprop_r50_fpn_12e_youtubevis2019_authors.py) at the toy size:
# the CPU-sized ObjProp toy config with what the authors' released code chose differently.
# Source: anirudh-chakravarthy/ObjProp at 34e9957; "prop_head.py" =
# mmdet/models/prop_heads/prop_head.py, "two_stage.py" = mmdet/models/detectors/two_stage.py,
# "their config" = configs/masktrack_rcnn_r50_fpn_1x_youtubevos_objprop.py.
# Differs from the full preset only in sizes (64 channels) and in the filling's cost cap.
_base_ = './objprop_r18_fpn_toy.py'
model = dict(
    # trained on dot products, matched online on unit cosine similarities: their track head
    # L2-normalises both embeddings in test mode only (track_heads/track_head.py 99-101)
    roi_head=dict(track_head=dict(normalize_at_test=True)),
    prop_head=dict(
        # FPN P2-P5 (two_stage.py 182-183) resized by 2**(idx-1) to stride 8 and concatenated
        # (prop_head.py 173-180); boxes rasterised at //8 (199, 253)
        in_levels=(0, 1, 2, 3), feat_stride=8,
        # learned projection (prop_head.py 66-73) inside extract_feats (181): the attention
        # multiplies the projected features (210, 280); 64 channels at the toy size
        feat_proj='authors', proj_channels=64, att_features='proj',
        # softmax over reference positions of raw dot products (122, 189, 244)
        affinity_norm='softmax', affinity_scale=1.0,
        # sigmoid(2 fg - 1): softmax over the (bg, fg) pair, no temperature (206, 274-275)
        att_scale=1.0, learn_att_scale=False,
        # test time: affinity x exp(-d^2 / 8^2), d in stride-8 cells (190, 125-141, 163-164)
        test_spatial_sigma=8.0,
        # class-specific masks at stride 4; the label picks the channel (80-98, 222, 324-333)
        class_specific=True, num_classes={{_base_.num_classes}},
        # attention loss against the object's box at t (305-311; two_stage.py 185)
        att_target='box'),
    test_cfg=dict(
        # score 0.001, 100 detections a frame (their config 122, 124)
        rcnn=dict(score_thr=0.001, max_per_img=100),
        # the authors' intended filling (two_stage.py 431-494; AuthorsFiller):
        # every track of the last 24 frames (73; track.history=24), averaged (458), >= 0.3
        # (462), nothing suppressed, no limit on fills in a row; as shipped it never runs
        # (441-444): max_fill=0 / `objprop test --no-fill`.
        # COST CAP (not the authors'): propagate from the last 4 history frames only, not
        # 24; the mean is over <= 4 propagated masks and a track absent from the last 4
        # frames is no longer filled (scores and labels still use all 24).
        prop=dict(_delete_=True, type='AuthorsFiller', mask_thr=0.3, max_fill=None,
                  max_frames=4)))
# reference frame: any other annotated frame of the video (mmdet/datasets/ytvos.py 198-210)
data = dict(train=dict(ref_sampling='any'))
# gradient clipping at 35 (their config 175): the toy config has it already
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
# their ObjProp starts from their trained MaskTrack R-CNN (their config 197). Left at the toy
# configs' pretrained start so that this config trains standalone; to start as they do (as
# the book does, per seed), pass
# --cfg-options load_from=work_dirs/masktrack_rcnn_r18_fpn_toy/seed0/latest.pth
# results: one-frame tracks are dropped (mmdet/core/evaluation/coco_utils.py 231-232)
test_results = dict(min_frames=2)
