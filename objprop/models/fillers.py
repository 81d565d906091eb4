"""ObjProp's empty-instance filling at test time: registered parts built from
``test_cfg.prop`` (``dict(type=...)``; :data:`objprop.models.builder.FILLERS`).

A filler runs once per frame, after the tracker (:meth:`ObjProp.after_frame`): it reads the
tracker's memory and feature history, propagates the tracks it chooses with the propagation
head, and appends the fills to the frame's output (``filled=True``).

* :class:`OnlineFiller` (default): the paper's filling, online (no future frames);
* :class:`AuthorsFiller`: the filling the authors' released code was written to do.

Both take ``max_fill`` (fills in a row per track; 0 switches filling off, ``None`` no limit)
and ``mask_thr`` (threshold on the propagated mask probability).
"""
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from .builder import FILLERS
from .prop_head import masks_to_image


def mask_boxes(masks):
    """Tight boxes (n, 4) of binary masks (n, H, W); empty masks give zeros."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(ys):
            boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return boxes


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


class Filler:
    """What every filler shares: its two common options and the call made each frame."""

    def __init__(self, max_fill=3, mask_thr=0.5):
        self.max_fill = max_fill
        self.mask_thr = mask_thr

    def __call__(self, head, tracker, feat, meta, frame, boxes, out):
        """This frame's output with the fills appended.

        Args:
            head: the propagation head. tracker: the video's tracker (memory and feature
            history, this frame not yet in it). feat: this frame's propagation features.
            meta: the frame's image meta. frame: its index. boxes: the output's boxes in
            padded-image coordinates. out: the frame's output so far.
        """
        raise NotImplementedError


@FILLERS.register_module()
class OnlineFiller(Filler):
    """Empty-instance filling (the paper's inference, online: no future frames).

    Options (defaults in brackets): ``max_fill`` [3], ``mask_thr`` [0.5], ``history_mode``
    ['last'], ``min_area`` [16], ``suppress_iou`` [0.5], ``score_factor`` [1.0]; this book's
    options, off by default (the paper's rule): ``min_track_score`` [0.0],
    ``replace_score_thr`` [None].

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

    HISTORY_MODES = ("last", "mean")

    def __init__(self, max_fill=3, mask_thr=0.5, history_mode="last", min_area=16,
                 suppress_iou=0.5, score_factor=1.0, min_track_score=0.0,
                 replace_score_thr=None):
        super().__init__(max_fill, mask_thr)
        if history_mode not in self.HISTORY_MODES:
            raise ValueError(f"history_mode must be one of {self.HISTORY_MODES}, "
                             f"not {history_mode!r}")
        self.history_mode = history_mode
        self.min_area = min_area
        self.suppress_iou = suppress_iou
        self.score_factor = score_factor
        self.min_track_score = min_track_score
        self.replace_score_thr = replace_score_thr

    def __call__(self, head, tracker, feat, meta, frame, boxes, out):
        for tid, box in zip(out["track_ids"], boxes):
            tracker.tracks[tid].boxes[frame] = box.detach()
        if not tracker.frames:
            return out
        hist, affinities = dict(tracker.frames), {}
        if self.replace_score_thr is not None:
            out = self.replace_weak(head, tracker, feat, meta, frame, out, hist, affinities)
        detected = set(out["track_ids"])
        cands = [t for t in tracker.tracks.values()
                 if t.track_id not in detected and t.last_seen == frame - 1
                 and (self.max_fill is None or t.filled_run < self.max_fill) and t.boxes
                 and t.mean_score >= self.min_track_score]
        new = []
        for t in cands:
            mask = self.propagate_track(head, t, feat, meta, hist, affinities)
            if mask is None or mask.sum() < self.min_area:
                continue
            if len(out["masks"]):
                inter = (out["masks"] & mask).reshape(len(out["masks"]), -1).sum(1)
                union = (out["masks"] | mask).reshape(len(out["masks"]), -1).sum(1)
                if (inter / np.maximum(union, 1)).max() > self.suppress_iou:
                    continue
            box = torch.from_numpy(mask_boxes(mask[None])[0])
            score = t.mean_score * self.score_factor
            pad_box = box.to(feat) * feat.new_tensor(meta["scale_factor"])
            tracker.update(t.track_id, frame, None, box.to(t.box), t.label, score,
                           filled=True, pad_box=pad_box)
            new.append((t.track_id, t.label, score, box.numpy(), mask))
        return append_fills(out, new)

    def propagate_track(self, head, t, feat, meta, hist, affinities):
        """The binary mask (H, W) of track ``t`` in the current frame, propagated from its
        boxes in the history frames before it (``history_mode='last'``: the last one;
        ``'mean'``: the mean of the masks from every history frame it is in, as the authors'
        code); None without such a frame. ``affinities`` caches one affinity per frame."""
        frames = sorted(f for f in t.boxes if f in hist)
        if not frames:
            return None
        if self.history_mode == "last":
            frames = frames[-1:]
        probs = []
        for f in frames:
            if f not in affinities:
                affinities[f] = head.affinity(feat, hist[f])
            res = head(feat, hist[f], t.boxes[f][None], affinities[f], labels=[t.label])
            probs.append(res["mask_prob"])
        prob = masks_to_image(torch.stack(probs).mean(0), meta,
                              head.feat_stride / 2)  # (1, H, W)
        return (prob[0] > self.mask_thr).cpu().numpy()

    def replace_weak(self, head, tracker, feat, meta, frame, out, hist, affinities):
        """``replace_score_thr``: weak detections of tracks seen in the previous frame take
        the propagated mask (see the class docstring)."""
        out = dict(out, masks=out["masks"].copy(), filled=out["filled"].copy())
        for k, tid in enumerate(out["track_ids"]):
            t = tracker.tracks.get(tid)
            if (t is None or out["filled"][k] or out["scores"][k] >= self.replace_score_thr
                    or frame - 1 not in t.boxes):
                continue
            mask = self.propagate_track(head, t, feat, meta, hist, affinities)
            if mask is not None and mask.sum() >= self.min_area:
                out["masks"][k], out["filled"][k] = mask, True
        return out


@FILLERS.register_module()
class AuthorsFiller(Filler):
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

    def __init__(self, max_fill=None, mask_thr=0.3, max_frames=None):
        super().__init__(max_fill, mask_thr)
        self.max_frames = max_frames
        self.records = deque()  # (frame, {track id: (box, label, score, filled)}) per frame

    def __call__(self, head, tracker, feat, meta, frame, boxes, out):
        if not tracker.frames:  # first frame since the tracker's reset: a new video
            self.records = deque(maxlen=tracker.history)
        now = {tid: (boxes[k].detach(), int(out["labels"][k]), float(out["scores"][k]), False)
               for k, tid in enumerate(out["track_ids"])}
        new = []
        if self.max_fill != 0 and self.records:
            new = self.fills(head, dict(tracker.frames), feat, meta, now)
        scale = feat.new_tensor(meta["scale_factor"])
        for tid, label, score, box, _ in new:
            now[tid] = (torch.from_numpy(box).to(feat) * scale, label, score, True)
        self.records.append((frame, now))
        return append_fills(out, new)

    def filled_run(self, records, tid):
        """Frames in a row, up to the last, in which track ``tid`` was a fill."""
        n = 0
        for _, recs in reversed(records):
            if tid not in recs or not recs[tid][3]:
                break
            n += 1
        return n

    def fills(self, head, hist, feat, meta, now):
        """Steps 1–4 of the class docstring: ``[(track id, label, score, box, mask)]``."""
        records = list(self.records)
        used = records[-self.max_frames:] if self.max_frames else records
        up = head.feat_stride / 2  # the head's mask stride → padded input size
        sums, counts = {}, {}
        for f, recs in used:
            tids = [t for t in recs if t not in now and f in hist and
                    (self.max_fill is None or self.filled_run(records, t) < self.max_fill)]
            if not tids:  # two_stage.py 439: a frame without instances is skipped
                continue
            res = head(feat, hist[f], torch.stack([recs[t][0] for t in tids]).to(feat),
                       head.affinity(feat, hist[f]), labels=[recs[t][1] for t in tids])
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
            mask = (prob[0, 0] >= self.mask_thr).cpu().numpy()
            if not mask.any():
                continue
            seen = [recs[t] for _, recs in records if t in recs]
            score = float(np.mean([r[2] for r in seen]))
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
            new.append((t, seen[-1][1], score, box, mask))
        return new
