"""MaskTrack R-CNN and ObjProp detectors (mmdet 2.x), trained on (t-δ, t) pairs, tested online.

Test time is frame by frame (batch size 1, frames in order). Each frame goes through four
steps, each of which a *frame hook* may override (the oracle study, or a test that hides a
detection, plugs in there; see :mod:`objprop.studies.oracle`):

1. ``detections``: boxes (original image coordinates), scores, labels from the box head;
2. ``masks``: the mask head's masks for those boxes;
3. ``track_ids``: the online tracker's assignment (``test_cfg.track``, a registered tracker
   of :mod:`objprop.models.tracker`; :class:`~objprop.models.tracker.MaskTrackTracker`,
   MaskTrack R-CNN's rule, by default: a detection that loses its track to a better one in
   the same frame is dropped from the frame's output, as in the original);
4. ObjProp only, **empty-instance filling** (``test_cfg.prop``, a registered filler of
   :mod:`objprop.models.fillers`): a track present in the previous frame but not detected
   now is propagated from its boxes in the feature history with the propagation head;
   :class:`~objprop.models.fillers.OnlineFiller` says when a fill is kept and when it
   stops, :class:`~objprop.models.fillers.AuthorsFiller` is the authors' filling.

``simple_test`` returns one dict per frame: ``track_ids``, ``labels``, ``scores``, ``bboxes``
(original coordinates), ``masks`` (n, H, W bool, original size) and ``filled`` (bool: the
instance comes from propagation, not from the detector).
"""
import numpy as np
import torch
from mmcv import ConfigDict
from mmdet.core import bbox2roi
from mmdet.models.builder import DETECTORS, HEADS, build_head
from mmdet.models.detectors import MaskRCNN, TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

from ..hooks import FrameHook  # noqa: F401  (re-exported: the hook protocol lives there)
from .builder import build_filler, build_tracker
from .precision import autocast_dtype


@HEADS.register_module()
class MaskTrackRoIHead(StandardRoIHead):
    """Mask R-CNN's box and mask heads plus MaskTrack R-CNN's track head."""

    def __init__(self, track_head=None, **kwargs):
        super().__init__(**kwargs)
        self.track_head = build_head(track_head)

    def _sample(self, x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore):
        results = []
        for i in range(len(proposal_list)):
            ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore[i]
            assign = self.bbox_assigner.assign(proposal_list[i], gt_bboxes[i], ignore,
                                               gt_labels[i])
            results.append(self.bbox_sampler.sample(
                assign, proposal_list[i], gt_bboxes[i], gt_labels[i],
                feats=[lvl[i][None] for lvl in x]))
        return results

    def embed(self, x, boxes_list):
        """Track embeddings of boxes (list per image, padded-image coordinates)."""
        rois = bbox2roi(boxes_list)
        feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        return self.track_head(feats)

    def forward_train(self, x, img_metas, proposal_list, gt_bboxes, gt_labels,
                      gt_bboxes_ignore=None, gt_masks=None, gt_pids=None, ref_x=None,
                      ref_gt_bboxes=None):
        sampling = self._sample(x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore)
        losses = {}
        bbox_results = self._bbox_forward_train(x, sampling, gt_bboxes, gt_labels, img_metas)
        losses.update(bbox_results["loss_bbox"])
        mask_results = self._mask_forward_train(x, sampling, bbox_results["bbox_feats"],
                                                gt_masks, img_metas)
        losses.update(mask_results["loss_mask"])
        # track head: every positive RoI at t against the reference frame's instances
        emb = self.embed(x, [r.pos_bboxes for r in sampling])
        ref_emb = self.embed(ref_x, ref_gt_bboxes)
        scores, targets = [], []
        emb_split = emb.split([len(r.pos_bboxes) for r in sampling])
        ref_split = ref_emb.split([len(b) for b in ref_gt_bboxes])
        for r, e, re, pids in zip(sampling, emb_split, ref_split, gt_pids):
            scores.append(self.track_head.match_scores(e, re))
            targets.append(pids[r.pos_assigned_gt_inds])
        losses.update(self.track_head.loss(scores, targets))
        return losses

    def detect(self, x, img_metas, proposals):
        """Boxes (padded-image coords), scores, labels of one image after NMS."""
        det_bboxes, det_labels = self.simple_test_bboxes(x, img_metas, proposals,
                                                         self.test_cfg, rescale=False)
        return det_bboxes[0][:, :4], det_bboxes[0][:, 4], det_labels[0]

    def predict_masks(self, x, boxes, labels, meta):
        """Binary masks (n, H, W) at the original size for boxes in padded-image coords."""
        h, w = meta["ori_shape"][:2]
        if len(boxes) == 0:
            return np.zeros((0, h, w), dtype=bool)
        mask_pred = self._mask_forward(x, bbox2roi([boxes]))["mask_pred"]
        if mask_pred.shape[1] > 1:
            mask_pred = mask_pred[torch.arange(len(boxes)), labels.long()][:, None]
        scale = boxes.new_tensor(meta["scale_factor"])
        masks, _ = _do_paste_mask(mask_pred.sigmoid(), boxes / scale, h, w, skip_empty=False)
        thr = self.test_cfg.get("mask_thr_binary", 0.5)
        return (masks >= thr).cpu().numpy()


def match_ids(gt_ids, ref_gt_ids):
    """For each instance at t, 1 + its index among the reference instances, 0 if absent."""
    out = torch.zeros_like(gt_ids)
    for k, gid in enumerate(gt_ids.tolist()):
        hit = (ref_gt_ids == gid).nonzero()
        if len(hit):
            out[k] = hit[0, 0] + 1
    return out


def _require_layout_aware_roi_layers(roi_head):
    """Channels-last features need RoI layers that read them as such: mmcv's RoIAlign kernel
    (``use_torchvision=False``) reads its input's memory as NCHW and pools the wrong cells
    from a channels-last map, silently (tests/test_speed.py)."""
    from mmcv.ops import RoIAlign
    for name in ("bbox_roi_extractor", "mask_roi_extractor"):
        for layer in getattr(getattr(roi_head, name, None), "roi_layers", ()):
            if isinstance(layer, RoIAlign) and not layer.use_torchvision:
                raise ValueError(f"channels_last=True needs a RoI layer that reads "
                                 f"channels-last features ({name}: MatmulGradRoIAlign, or "
                                 f"RoIAlign with use_torchvision=True); mmcv's RoIAlign kernel "
                                 f"reads them as NCHW")


class FeatureOptions:
    """The CPU options of the backbone and neck that the toy detectors share (a mixin before
    mmdet's detector class): ``channels_last``, the backbone and neck hold their weights and
    take their input in channels-last memory order (oneDNN's faster CPU convolutions; same
    arithmetic); ``train_feat_dtype`` ('bfloat16'; default None: float32), while training the
    backbone and neck run under autocast to that type and hand float32 features to the heads
    (mixed precision); ``test_feat_dtype``, the same at test time (inference, the studies'
    passes over a split; default None: float32)."""

    def init_feature_options(self, channels_last=False, train_feat_dtype=None,
                             test_feat_dtype=None):
        """Called at the end of the detector's ``__init__``, once its parts are built."""
        self.train_feat_dtype = autocast_dtype("train_feat_dtype", train_feat_dtype)
        self.test_feat_dtype = autocast_dtype("test_feat_dtype", test_feat_dtype)
        self.channels_last = bool(channels_last)
        if self.channels_last:  # in-place initialisation and loading keep this order
            _require_layout_aware_roi_layers(self.roi_head)
            self.backbone.to(memory_format=torch.channels_last)
            if self.with_neck:
                self.neck.to(memory_format=torch.channels_last)

    def extract_feat(self, img):
        """Backbone + neck features (float32), in the memory order and the precision (of
        training or of test time) set at construction."""
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        dtype = self.train_feat_dtype if self.training else self.test_feat_dtype
        if dtype is None:
            return super().extract_feat(img)
        with torch.autocast(img.device.type, dtype=dtype):
            feats = super().extract_feat(img)
        return tuple(f.float() for f in feats)


@DETECTORS.register_module()
class ToyMaskRCNN(FeatureOptions, MaskRCNN):
    """mmdet's Mask R-CNN on still images with the toy detectors' feature options: the toy
    detector pre-trained on ToyCOCO (``configs/mask_rcnn_r18_fpn_toycoco.py``). Its parts and
    their weight names are MaskTrack R-CNN's less the track head, so its checkpoint loads into
    every toy config as COCO's Mask R-CNN loads into the paper's. The toy layout it inherits
    names a track head: ``roi_head.track_head`` must be set to None (a still image has no
    second frame to match)."""

    def __init__(self, backbone, rpn_head, roi_head, train_cfg, test_cfg, neck=None,
                 pretrained=None, init_cfg=None, channels_last=False, train_feat_dtype=None,
                 test_feat_dtype=None):
        if roi_head is not None and "track_head" in roi_head:
            if roi_head["track_head"] is not None:
                raise ValueError("ToyMaskRCNN has no track head: set roi_head.track_head=None")
            roi_head = ConfigDict({k: v for k, v in roi_head.items() if k != "track_head"})
        super().__init__(backbone=backbone, rpn_head=rpn_head, roi_head=roi_head,
                         train_cfg=train_cfg, test_cfg=test_cfg, neck=neck,
                         pretrained=pretrained, init_cfg=init_cfg)
        self.init_feature_options(channels_last, train_feat_dtype, test_feat_dtype)


@DETECTORS.register_module()
class MaskTrackRCNN(FeatureOptions, TwoStageDetector):
    """Mask R-CNN + track head, with online tracking at test time (the baseline)."""

    def __init__(self, backbone, neck=None, rpn_head=None, roi_head=None, train_cfg=None,
                 test_cfg=None, pretrained=None, init_cfg=None, channels_last=False,
                 train_feat_dtype=None, test_feat_dtype=None):
        """``channels_last``, ``train_feat_dtype``, ``test_feat_dtype``: see
        :class:`FeatureOptions`."""
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head,
                         train_cfg=train_cfg, test_cfg=test_cfg, pretrained=pretrained,
                         init_cfg=init_cfg)
        self.init_feature_options(channels_last, train_feat_dtype, test_feat_dtype)
        self.tracker = build_tracker((test_cfg or {}).get("track"))

    # -- training -------------------------------------------------------------------------
    def extract_pair(self, img, ref_img):
        """Backbone+FPN features of both frames in one pass when their shapes agree."""
        if img.shape == ref_img.shape:
            feats = self.extract_feat(torch.cat([img, ref_img]))
            n = img.shape[0]
            return tuple(f[:n] for f in feats), tuple(f[n:] for f in feats)
        return self.extract_feat(img), self.extract_feat(ref_img)

    def forward_train(self, img, img_metas, gt_bboxes, gt_labels, gt_ids, ref_img,
                      ref_img_metas, ref_gt_bboxes, ref_gt_labels, ref_gt_ids,
                      gt_bboxes_ignore=None, gt_masks=None, ref_gt_masks=None,
                      ref_gt_bboxes_ignore=None, proposals=None, **kwargs):
        x, ref_x = self.extract_pair(img, ref_img)
        losses = {}
        proposal_cfg = self.train_cfg.get("rpn_proposal", self.test_cfg.rpn)
        rpn_losses, proposal_list = self.rpn_head.forward_train(
            x, img_metas, gt_bboxes, gt_labels=None, gt_bboxes_ignore=gt_bboxes_ignore,
            proposal_cfg=proposal_cfg)
        losses.update(rpn_losses)
        gt_pids = [match_ids(a, b) for a, b in zip(gt_ids, ref_gt_ids)]
        losses.update(self.roi_head.forward_train(
            x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore, gt_masks,
            gt_pids=gt_pids, ref_x=ref_x, ref_gt_bboxes=ref_gt_bboxes))
        losses.update(self.extra_losses(x, ref_x, img, gt_bboxes, gt_labels, gt_masks, gt_ids,
                                        ref_gt_bboxes, ref_gt_ids))
        return losses

    def extra_losses(self, x, ref_x, img, gt_bboxes, gt_labels, gt_masks, gt_ids,
                     ref_gt_bboxes, ref_gt_ids):
        """Losses of heads beyond MaskTrack R-CNN's, on the same features (ObjProp's
        propagation head); none here."""
        return {}

    # -- online test -----------------------------------------------------------------------
    def start_frame(self, meta):
        if meta.get("is_first", False) or self.tracker.video_id != meta.get("video_id"):
            self.tracker.reset(meta.get("video_id"))

    def simple_test(self, img, img_metas, proposals=None, rescale=True, frame_hook=None):
        assert img.shape[0] == 1, "online VIS inference runs one frame at a time"
        meta = img_metas[0]
        hook = frame_hook or FrameHook()
        self.start_frame(meta)
        frame = int(meta.get("frame_id", 0))
        x = self.extract_feat(img)
        scale = img.new_tensor(meta["scale_factor"])
        if proposals is None:
            proposals = self.rpn_head.simple_test_rpn(x, img_metas)
        boxes, scores, labels = self.roi_head.detect(x, img_metas, proposals)
        ori_boxes, scores, labels = hook.detections(meta, boxes / scale, scores, labels)
        boxes = ori_boxes * scale
        masks = self.roi_head.predict_masks(x, boxes, labels, meta)
        masks = hook.masks(meta, ori_boxes, labels, masks)
        forced = hook.track_ids(meta, ori_boxes, labels, masks)
        emb = (self.roi_head.embed(x, [boxes]) if len(boxes)
               else boxes.new_zeros(0, self.roi_head.track_head.fcs[-1].out_features))
        ids = self.tracker.assign(frame, emb, ori_boxes, scores, labels, forced_ids=forced)
        # MaskTrack R-CNN drops a detection that lost its track to a better one (id None)
        keep = [i for i, tid in enumerate(ids) if tid is not None]
        if len(keep) < len(ids):
            idx = torch.as_tensor(keep, dtype=torch.long, device=boxes.device)
            boxes, ori_boxes, scores, labels = (boxes[idx], ori_boxes[idx], scores[idx],
                                                labels[idx])
            masks, ids = masks[keep], [ids[i] for i in keep]
        out = dict(track_ids=list(ids), labels=labels.cpu().numpy(),
                   scores=scores.cpu().numpy(), bboxes=ori_boxes.cpu().numpy(), masks=masks,
                   filled=np.zeros(len(ids), dtype=bool))
        out = self.after_frame(x, img_metas, frame, boxes, ids, out)
        return [out]

    def after_frame(self, x, img_metas, frame, boxes, ids, out):
        """Baseline: nothing more; ObjProp fills missing instances here."""
        return out

    def aug_test(self, imgs, img_metas, rescale=False):
        raise NotImplementedError("online VIS inference has no test-time augmentation")


@DETECTORS.register_module()
class ObjProp(MaskTrackRCNN):
    """MaskTrack R-CNN + the propagation head (Chakravarthy et al.).

    ``test_cfg.prop`` is the empty-instance filler (:mod:`objprop.models.fillers`):
    ``dict(type='OnlineFiller', ...)`` (default), this book's online reading of the paper, or
    ``dict(type='AuthorsFiller', ...)``, the filling the authors' released code was written
    to do. ``max_fill=0`` switches filling off in either.
    """

    def __init__(self, *args, prop_head=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prop_head = build_head(prop_head)
        self.filler = build_filler((self.test_cfg or {}).get("prop"))

    def extra_losses(self, x, ref_x, img, gt_bboxes, gt_labels, gt_masks, gt_ids,
                     ref_gt_bboxes, ref_gt_ids):
        return self.prop_losses(x, ref_x, img, gt_bboxes, gt_masks, gt_ids, ref_gt_bboxes,
                                ref_gt_ids, gt_labels=gt_labels)

    def prop_losses(self, x, ref_x, img, gt_bboxes, gt_masks, gt_ids, ref_gt_bboxes,
                    ref_gt_ids, gt_labels=None):
        """Propagation losses over instances present in both frames (≤ max_instances each).

        A class-specific head picks each instance's mask channel by its label at t, as the
        authors' ``two_stage.py`` 202 and 208 (``gt_labels[b_id][gt_id]``)."""
        feat_t = self.prop_head.prop_features(x)
        feat_ref = self.prop_head.prop_features(ref_x)
        H, W = img.shape[-2:]
        parts = []
        for i in range(len(gt_ids)):
            pairs = [(k, (ref_gt_ids[i] == gid).nonzero()[0, 0].item())
                     for k, gid in enumerate(gt_ids[i].tolist())
                     if (ref_gt_ids[i] == gid).any()]
            if not pairs:
                continue
            if len(pairs) > self.prop_head.max_instances:
                keep = torch.randperm(len(pairs))[:self.prop_head.max_instances].tolist()
                pairs = [pairs[k] for k in keep]
            k_t = [p[0] for p in pairs]
            k_ref = [p[1] for p in pairs]
            labels = None if gt_labels is None else gt_labels[i][k_t]
            out = self.prop_head(feat_t[i:i + 1], feat_ref[i:i + 1], ref_gt_bboxes[i][k_ref],
                                 labels=labels)
            m = gt_masks[i].masks[k_t]
            masks = img.new_zeros(len(k_t), H, W)
            masks[:, :m.shape[1], :m.shape[2]] = torch.from_numpy(m[:, :H, :W]).to(img)
            parts.append(self.prop_head.loss(out, masks, gt_bboxes[i][k_t]))
        if not parts:  # keep every parameter in the graph (DDP) with a zero loss
            zero = sum(p.sum() for p in self.prop_head.parameters()) * 0.0
            zero = zero + feat_t.sum() * 0.0
            return dict(loss_prop_mask=zero, loss_prop_att=zero)
        return {k: torch.stack([p[k] for p in parts]).mean() for k in parts[0]}

    def after_frame(self, x, img_metas, frame, boxes, ids, out):
        """Fill missing instances (the filler), then add this frame to the history."""
        feat = self.prop_head.prop_features(x)
        out = self.filler(self.prop_head, self.tracker, feat, img_metas[0], frame, boxes, out)
        self.tracker.frames.append((frame, feat.detach()))
        return out
