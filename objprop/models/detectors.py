"""MaskTrack R-CNN and ObjProp detectors (mmdet 2.x), trained on (t-δ, t) pairs, tested online.

Test time is frame by frame (batch size 1, frames in order). Each frame goes through four
steps, each of which a *frame hook* may override (the oracle study, or a test that hides a
detection, plugs in there; see :mod:`objprop.oracle`):

1. ``detections``: boxes (original image coordinates), scores, labels from the box head;
2. ``masks``: the mask head's masks for those boxes;
3. ``track_ids``: the online tracker's assignment (:class:`~objprop.models.tracker.OnlineTracker`,
   MaskTrack R-CNN's rule by default: a detection that loses its track to a better one in
   the same frame is dropped from the frame's output, as in the original);
4. ObjProp only, **empty-instance filling**: a track present in the previous frame but not
   detected now is propagated from its boxes in the feature history with the propagation
   head; see :meth:`ObjProp.fill_missing` for when a fill is kept and when it stops, and
   :meth:`ObjProp.fill_authors` for the authors' filling (``test_cfg.prop.mode='authors'``).

``simple_test`` returns one dict per frame: ``track_ids``, ``labels``, ``scores``, ``bboxes``
(original coordinates), ``masks`` (n, H, W bool, original size) and ``filled`` (bool: the
instance comes from propagation, not from the detector).
"""
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.core import bbox2roi
from mmdet.models.builder import DETECTORS, HEADS, build_head
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

from ..hooks import FrameHook  # noqa: F401  (re-exported: the hook protocol lives there)
from .tracker import OnlineTracker
from .prop_head import masks_to_image


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


def mask_boxes(masks):
    """Tight boxes (n, 4) of binary masks (n, H, W); empty masks give zeros."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(ys):
            boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return boxes


@DETECTORS.register_module()
class MaskTrackRCNN(TwoStageDetector):
    """Mask R-CNN + track head, with online tracking at test time (the baseline)."""

    FEATURE_DTYPES = {None: None, "bfloat16": torch.bfloat16, "float16": torch.float16}

    def __init__(self, backbone, neck=None, rpn_head=None, roi_head=None, train_cfg=None,
                 test_cfg=None, pretrained=None, init_cfg=None, channels_last=False,
                 train_feat_dtype=None):
        """``channels_last``: the backbone and neck hold their weights and take their input
        in channels-last memory order (oneDNN's faster CPU convolutions; same arithmetic).
        ``train_feat_dtype`` ('bfloat16'; default None: float32): while training, the
        backbone and neck run under autocast to that type and hand float32 features to the
        heads (mixed precision; test time stays float32)."""
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head,
                         train_cfg=train_cfg, test_cfg=test_cfg, pretrained=pretrained,
                         init_cfg=init_cfg)
        if train_feat_dtype not in self.FEATURE_DTYPES:
            raise ValueError(f"train_feat_dtype must be one of "
                             f"{sorted(k for k in self.FEATURE_DTYPES if k)} or None, not "
                             f"{train_feat_dtype!r}")
        self.train_feat_dtype = self.FEATURE_DTYPES[train_feat_dtype]
        self.channels_last = bool(channels_last)
        if self.channels_last:  # in-place initialisation and loading keep this order
            self.backbone.to(memory_format=torch.channels_last)
            if self.with_neck:
                self.neck.to(memory_format=torch.channels_last)
        track_cfg = dict((test_cfg or {}).get("track", {}))
        self.tracker = OnlineTracker(**track_cfg)

    def extract_feat(self, img):
        """Backbone + neck features (float32), in the memory order and, while training,
        the precision set at construction."""
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        dtype = self.train_feat_dtype if self.training else None
        if dtype is None:
            return super().extract_feat(img)
        with torch.autocast(img.device.type, dtype=dtype):
            feats = super().extract_feat(img)
        return tuple(f.float() for f in feats)

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
        self._train_feats = (x, ref_x)  # for subclasses' extra heads, dropped after use
        return losses

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

    ``test_cfg.prop`` (defaults in brackets) sets the empty-instance filling:

    * ``mode`` [``'online'``]: ``'online'`` is this book's filling (:meth:`fill_missing`);
      ``'authors'`` is the filling the authors' released code was written to do
      (:meth:`fill_authors`).
    * ``max_fill`` [3]: fills in a row per track; 0 switches filling off in either mode (the
      authors' release *as shipped*: see :meth:`fill_authors`); ``None``: no limit (the
      authors').
    * ``mask_thr`` [0.5]: threshold on the propagated mask probability (authors: 0.3).
    * ``'online'`` only: ``history_mode`` ['last'], ``min_area`` [16], ``suppress_iou``
      [0.5], ``score_factor`` [1.0]; this book's options, off by default (the paper's rule):
      ``min_track_score`` [0.0], ``replace_score_thr`` [None] (see :meth:`fill_missing`).
    * ``'authors'`` only: ``max_frames`` [None]: the cost cap (see :meth:`fill_authors`).
    """

    PROP_MODES = ("online", "authors")

    def __init__(self, *args, prop_head=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prop_head = build_head(prop_head)
        self.prop_cfg = dict(mode="online", history_mode="last", max_fill=3, mask_thr=0.5,
                             min_area=16, suppress_iou=0.5, score_factor=1.0, max_frames=None,
                             min_track_score=0.0, replace_score_thr=None)
        self.prop_cfg.update((self.test_cfg or {}).get("prop", {}))
        if self.prop_cfg["mode"] not in self.PROP_MODES:
            raise ValueError(f"test_cfg.prop.mode must be one of {self.PROP_MODES}, "
                             f"not {self.prop_cfg['mode']!r}")
        self.prop_records = deque()  # 'authors' mode: (frame, {track id: record}) per frame

    def forward_train(self, img, img_metas, gt_bboxes, gt_labels, gt_ids, ref_img,
                      ref_img_metas, ref_gt_bboxes, ref_gt_labels, ref_gt_ids,
                      gt_bboxes_ignore=None, gt_masks=None, ref_gt_masks=None, **kwargs):
        losses = super().forward_train(
            img, img_metas, gt_bboxes, gt_labels, gt_ids, ref_img, ref_img_metas,
            ref_gt_bboxes, ref_gt_labels, ref_gt_ids, gt_bboxes_ignore=gt_bboxes_ignore,
            gt_masks=gt_masks, ref_gt_masks=ref_gt_masks, **kwargs)
        x, ref_x = self._train_feats
        del self._train_feats
        losses.update(self.prop_losses(x, ref_x, img, gt_bboxes, gt_masks, gt_ids,
                                       ref_gt_bboxes, ref_gt_ids, gt_labels=gt_labels))
        return losses

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
        meta = img_metas[0]
        feat = self.prop_head.prop_features(x)
        tr = self.tracker
        if self.prop_cfg["mode"] == "authors":
            out = self.fill_authors(feat, meta, frame, boxes, out)
            tr.frames.append((frame, feat.detach()))
            return out
        for tid, box in zip(ids, boxes):
            tr.tracks[tid].boxes[frame] = box.detach()
        out = self.fill_missing(feat, meta, frame, set(ids), out)
        tr.frames.append((frame, feat.detach()))
        return out

    def fill_missing(self, feat, meta, frame, detected_ids, out):
        """Empty-instance filling (the paper's inference, online: no future frames).

        Candidates are tracks present (detected or filled) in the previous frame, not
        detected now, filled fewer than ``max_fill`` frames in a row, and (this book's
        option, off by default) with a mean score of at least ``min_track_score``. Each is
        propagated from its boxes in the feature history (:meth:`propagate_track`). A fill
        is dropped, which ends the track's filling, when its mask has fewer than
        ``min_area`` pixels or overlaps a mask detected in this frame by more than
        ``suppress_iou`` (the detector found it under another id). A kept fill gets the
        track's label, the mean of its scores × ``score_factor``, and is written back into
        the history so later frames can propagate it further.

        ``replace_score_thr`` (this book's option; default None, off): a track that was in
        the previous frame and is detected now with a score below it gets the propagated
        mask instead of the detected one (marked filled), when that mask passes
        ``min_area``: where the detector still outputs a poor mask, nothing is "missing"
        and the paper's filling never runs.
        """
        cfg, tr = self.prop_cfg, self.tracker
        if not tr.frames:
            return out
        hist, affinities = dict(tr.frames), {}
        if cfg["replace_score_thr"] is not None:
            out = self.replace_weak(feat, meta, frame, out, hist, affinities)
        cands = [t for t in tr.tracks.values()
                 if t.track_id not in detected_ids and t.last_seen == frame - 1
                 and (cfg["max_fill"] is None or t.filled_run < cfg["max_fill"]) and t.boxes
                 and t.mean_score >= cfg["min_track_score"]]
        new = []
        for t in cands:
            mask = self.propagate_track(t, feat, meta, hist, affinities)
            if mask is None or mask.sum() < cfg["min_area"]:
                continue
            if len(out["masks"]):
                inter = (out["masks"] & mask).reshape(len(out["masks"]), -1).sum(1)
                union = (out["masks"] | mask).reshape(len(out["masks"]), -1).sum(1)
                if (inter / np.maximum(union, 1)).max() > cfg["suppress_iou"]:
                    continue
            box = torch.from_numpy(mask_boxes(mask[None])[0])
            score = t.mean_score * cfg["score_factor"]
            pad_box = box.to(feat) * feat.new_tensor(meta["scale_factor"])
            tr.update(t.track_id, frame, None, box.to(t.box), t.label, score, filled=True,
                      pad_box=pad_box)
            new.append((t.track_id, t.label, score, box.numpy(), mask))
        return append_fills(out, new)

    def propagate_track(self, t, feat, meta, hist, affinities):
        """The binary mask (H, W) of track ``t`` in the current frame, propagated from its
        boxes in the history frames before it (``history_mode='last'``: the last one;
        ``'mean'``: the mean of the masks from every history frame it is in, as the authors'
        code); None without such a frame. ``affinities`` caches one affinity per frame."""
        frames = sorted(f for f in t.boxes if f in hist)
        if not frames:
            return None
        if self.prop_cfg["history_mode"] == "last":
            frames = frames[-1:]
        probs = []
        for f in frames:
            if f not in affinities:
                affinities[f] = self.prop_head.affinity(feat, hist[f])
            res = self.prop_head(feat, hist[f], t.boxes[f][None], affinities[f],
                                 labels=[t.label])
            probs.append(res["mask_prob"])
        prob = masks_to_image(torch.stack(probs).mean(0), meta,
                              self.prop_head.feat_stride / 2)  # (1, H, W)
        return (prob[0] > self.prop_cfg["mask_thr"]).cpu().numpy()

    def replace_weak(self, feat, meta, frame, out, hist, affinities):
        """``replace_score_thr``: weak detections of tracks seen in the previous frame take
        the propagated mask (see :meth:`fill_missing`)."""
        cfg, tr = self.prop_cfg, self.tracker
        out = dict(out, masks=out["masks"].copy(), filled=out["filled"].copy())
        for k, tid in enumerate(out["track_ids"]):
            t = tr.tracks.get(tid)
            if (t is None or out["filled"][k] or out["scores"][k] >= cfg["replace_score_thr"]
                    or frame - 1 not in t.boxes):
                continue
            mask = self.propagate_track(t, feat, meta, hist, affinities)
            if mask is not None and mask.sum() >= cfg["min_area"]:
                out["masks"][k], out["filled"][k] = mask, True
        return out

    def fill_authors(self, feat, meta, frame, boxes, out):
        """Empty-instance filling as the authors' released code was written to do it.

        Source: anirudh-chakravarthy/ObjProp at 34e9957, ``mmdet/models/detectors/two_stage.py``
        ``simple_test`` (lines 431–495) and ``mmdet/models/prop_heads/prop_head.py`` ``predict``
        (184–223). Each frame:

        1. every track recorded in a frame of the history (detections and fills alike; the
           last 24 frames, ``history_len = 24``, line 73; here the tracker's ``history``,
           24 in the configs) and not detected in this frame is propagated from its box and
           its label *in that frame* (the label picks a class-specific head's channel,
           prop_head.py 193 and 222) to this frame (two_stage.py 438–452); a track detected
           now is not propagated, as its propagation is thrown away at line 459;
        2. its propagated mask probabilities (mask logits upsampled to the padded input,
           sigmoid; prop_head.py 216–222) are averaged over those frames (line 458);
        3. the mean is thresholded at ``mask_thr`` (``>= .3``, line 462) and an empty mask is
           dropped (463–464). Nothing is suppressed: no overlap test with this frame's
           detections, no area threshold, no limit on fills in a row (``max_fill=None``;
           a positive ``max_fill`` would add one);
        4. a fill's score is the mean of the track's scores over the history frames holding
           it, fills included; its label the latest one there (466–475); its box the mask's
           extent ``[x_min, y_min, x_max, y_max]`` (476–477);
        5. fills join this frame's output and its history record (477–494), so they are
           propagated again later. They do not update the tracker's memory (the authors'
           matching keeps its own ``prev_bboxes``/``prev_roi_feats``, which a fill never
           touches).

        As shipped, the loop never reaches the propagation: lines 441–444 read
        ``if img_meta[0]['video_id'] == 6: pdb.set_trace() else: continue`` (and ``pdb`` is
        not imported in two_stage.py, lines 1–14, so video index 6 raises NameError). The
        release as shipped is ``max_fill=0``: no fills.

        Smallest fixes that make the intended code run:

        * prop_head.py 219–221 are commented out, so ``predict`` returns the mask at the
          padded input size while the detections' masks are at the original size
          (``rescale=True``); here the mean is cropped to ``img_shape`` and resized to
          ``ori_shape`` as those lines say (crop and resize are linear, so doing it after
          the mean equals doing it per frame). The fill's box is then in original pixels,
          like the detections', and ``predict``'s ``bbox * scale_factor`` (line 195)
          maps both to the padded input.
        * prop_head.py 137 ``index_matrix / W``: ``//`` (the spatial prior; see
          :func:`objprop.models.prop_head.spatial_prior`).

        Cost cap ``max_frames`` (default None = the whole history, as the authors): only the
        last ``max_frames`` frames of the history are propagated from. It changes (a) the
        mean, over at most ``max_frames`` propagated masks instead of up to 24, and (b) which
        tracks are filled: a track absent from the last ``max_frames`` frames (not detected
        there, and its fill came out empty or it was not filled) is not filled, where the
        authors keep trying for 24 frames. Scores and labels still use the whole history.
        """
        cfg, tr = self.prop_cfg, self.tracker
        if not tr.frames:  # first frame since the tracker's reset: a new video
            self.prop_records = deque(maxlen=tr.history)
        records = self.prop_records
        now = {tid: (boxes[k].detach(), int(out["labels"][k]), float(out["scores"][k]), False)
               for k, tid in enumerate(out["track_ids"])}
        new = []
        if cfg["max_fill"] != 0 and records:
            new = self._authors_fills(feat, meta, now)
        scale = feat.new_tensor(meta["scale_factor"])
        for tid, label, score, box, _ in new:
            now[tid] = (torch.from_numpy(box).to(feat) * scale, label, score, True)
        records.append((frame, now))
        return append_fills(out, new)

    def _authors_fills(self, feat, meta, now):
        """Steps 1–4 of :meth:`fill_authors`: ``[(track id, label, score, box, mask)]``."""
        cfg, records = self.prop_cfg, list(self.prop_records)
        hist = dict(self.tracker.frames)
        used = records[-cfg["max_frames"]:] if cfg["max_frames"] else records
        max_fill = cfg["max_fill"]

        def filled_run(tid):
            n = 0
            for _, recs in reversed(records):
                if tid not in recs or not recs[tid][3]:
                    break
                n += 1
            return n

        up = self.prop_head.feat_stride / 2  # the head's mask stride → padded input size
        sums, counts = {}, {}
        for f, recs in used:
            tids = [t for t in recs if t not in now and f in hist and
                    (max_fill is None or filled_run(t) < max_fill)]
            if not tids:  # two_stage.py 439: a frame without instances is skipped
                continue
            res = self.prop_head(feat, hist[f], torch.stack([recs[t][0] for t in tids]).to(feat),
                                 self.prop_head.affinity(feat, hist[f]),
                                 labels=[recs[t][1] for t in tids])
            prob = F.interpolate(res["mask_logits"][:, None], scale_factor=up, mode="bilinear",
                                 align_corners=False).sigmoid()[:, 0]
            for t, p in zip(tids, prob):
                sums[t] = sums[t] + p if t in sums else p
                counts[t] = counts.get(t, 0) + 1
        H, W = meta["ori_shape"][:2]
        ih, iw = meta["img_shape"][:2]
        new = []
        for t, total in sums.items():
            prob = (total / counts[t])[None, None, :ih, :iw]  # fix: prop_head.py 219-221
            prob = F.interpolate(prob, size=(H, W), mode="bilinear", align_corners=False)
            mask = (prob[0, 0] >= cfg["mask_thr"]).cpu().numpy()
            if not mask.any():
                continue
            seen = [recs[t] for _, recs in records if t in recs]
            score = float(np.mean([r[2] for r in seen]))
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
            new.append((t, seen[-1][1], score, box, mask))
        return new


def append_fills(out, new):
    """``out`` with fills ``[(track id, label, score, box, mask)]`` appended (filled=True)."""
    if not new:
        return out
    out = dict(out)
    out["track_ids"] = out["track_ids"] + [n[0] for n in new]
    out["labels"] = np.concatenate([out["labels"], [n[1] for n in new]]).astype(np.int64)
    out["scores"] = np.concatenate([out["scores"], [n[2] for n in new]]).astype(np.float32)
    out["bboxes"] = np.concatenate([out["bboxes"].reshape(-1, 4),
                                    np.stack([n[3] for n in new])]).astype(np.float32)
    out["masks"] = np.concatenate([out["masks"], np.stack([n[4] for n in new])])
    out["filled"] = np.concatenate([out["filled"], np.ones(len(new), dtype=bool)])
    return out
