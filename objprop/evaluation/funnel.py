"""Where missed instances go: the filling funnel, from a results file and the ground truth.

ObjProp's filling can only recover an instance-frame (ground-truth instance g in frame t)
when every step before it went right. For each instance-frame the funnel records the first
step that failed:

* ``detected`` / ``filled``: found — some result's mask in frame t has IoU ≥ ``iou_thr``
  with g; by a detected mask or by a filled one.
* ``new``: missed, and g is not in frame t-1 (first frame, or it re-enters): there is
  nothing to propagate from.
* ``no_track``: missed, and no result covered g in frame t-1 (IoU ≥ ``iou_thr``): the
  track was lost before this frame, so no fill can be attached to it. A track whose fill
  in t-1 was already wrong counts as lost here: "its track" is the result that overlaps g
  in t-1, the only identity a results file has.
* ``poor_detection``: the track that covered g in t-1 was *detected* in t, with a wrong
  mask; filling never looks at it (the paper fills only missing instances).
* ``wrong_fill``: that track was filled in t, and the propagated mask is wrong.
* ``max_fill``: that track is absent in t after ``max_fill`` filled frames in a row (with
  ``max_fill = 0``, filling off, every such case lands here).
* ``dropped``: that track is absent in t although it could still be filled: a mask was
  propagated and dropped by ``min_area`` or ``suppress_iou``.

The other side: every filled mask, and whether it matches a ground-truth instance of its
frame (``correct``), and whether its track as a whole matches that instance (video IoU ≥
``iou_thr``: it *can* count as a true positive in AP) — plus the scores of the tracks that
received fills (low scores: propagation extended a false positive).

A "track" here is one result (one entry of the results file). Frame IoUs come from
:func:`objprop.evaluation.tracks.frame_intersections`, as the metrics compute them.
"""
import numpy as np

from .tracks import frame_intersections, gt_tracks, result_tracks, video_ious

STAGES = [  # (key, what it means), in the order of the funnel
    ("detected", "found by a detected mask"),
    ("filled", "found by a filled mask"),
    ("new", "missed: not in the frame before"),
    ("no_track", "missed: no track on it in the frame before"),
    ("poor_detection", "missed: its track detected, with a wrong mask"),
    ("wrong_fill", "missed: its track filled, with a wrong mask"),
    ("max_fill", "missed: its track absent, filling off or max_fill reached"),
    ("dropped", "missed: propagated, dropped by min_area / suppress_iou"),
]


def _frame_iou_array(dets, gts):
    """(F, D, G) per-frame IoUs (0 where either side is missing)."""
    inter = frame_intersections(dets, gts)
    if not dets or not gts:
        return inter, inter
    a_d = np.stack([d.areas for d in dets]).T[:, :, None]
    a_g = np.stack([g.areas for g in gts]).T[:, None, :]
    both = (np.stack([d.present for d in dets]).T[:, :, None]
            & np.stack([g.present for g in gts]).T[:, None, :])
    union = a_d + a_g - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=both & (union > 0)), inter


def _filled_run(filled, present, t):
    """Filled frames in a row ending at frame ``t`` (all present)."""
    n = 0
    while t >= 0 and present[t] and filled[t]:
        n, t = n + 1, t - 1
    return n


def filling_funnel(gt, results, max_fill, iou_thr=0.5):
    """The funnel of one results list: ``stages`` (key → count over every ground-truth
    instance-frame), ``hard_stages`` (the same on ToyVIS's hard frames), ``fills`` (total,
    correct, counted, on hard frames), and ``fill_track_scores`` (the scores of the results
    that received fills)."""
    gts_by, dets_by = gt_tracks(gt), result_tracks(gt, results)
    filled_by = {vid: [] for vid in gts_by}
    for r in results:
        filled_by[r["video_id"]].append(np.asarray(r.get("filled") or
                                                   [False] * len(r["segmentations"]), bool))
    stages = {k: 0 for k, _ in STAGES}
    hard_stages = dict(stages)
    fills = dict(total=0, correct=0, counted=0, on_hard_frames=0)
    fill_scores = []
    for video in gt["videos"]:
        vid = video["id"]
        gts, dets, filled = gts_by[vid], dets_by[vid], filled_by[vid]
        hard = {int(f) for f in (video.get("hard_frames") or {})}
        iou, inter = _frame_iou_array(dets, gts)
        vious = video_ious(dets, gts, inter) if dets and gts else np.zeros((len(dets), len(gts)))
        d_present = np.stack([d.present for d in dets]) if dets else np.zeros((0, video["length"]), bool)
        for j, g in enumerate(gts):
            for t in np.flatnonzero(g.visible):
                stage = _stage(iou, d_present, filled, j, int(t), g, max_fill, iou_thr)
                stages[stage] += 1
                if t in hard:
                    hard_stages[stage] += 1
        for i, (d, fl) in enumerate(zip(dets, filled)):
            frames = np.flatnonzero(fl & d.present)
            if len(frames):
                fill_scores.append(float(d.score))
            for t in frames:
                fills["total"] += 1
                fills["on_hard_frames"] += int(t in hard)
                if gts:
                    j = int(iou[t, i].argmax())
                    if iou[t, i, j] >= iou_thr:
                        fills["correct"] += 1
                        fills["counted"] += int(vious[i, j] >= iou_thr)
    return dict(stages=stages, hard_stages=hard_stages, fills=fills,
                fill_track_scores=fill_scores, iou_thr=iou_thr, max_fill=max_fill)


def _stage(iou, d_present, filled, j, t, g, max_fill, iou_thr):
    """The funnel stage of ground-truth track ``j`` in frame ``t``."""
    if iou.shape[1]:
        hits = np.flatnonzero(iou[t, :, j] >= iou_thr)
        if len(hits):
            return "filled" if all(filled[i][t] for i in hits) else "detected"
    if t == 0 or not g.visible[t - 1]:
        return "new"
    if not iou.shape[1] or iou[t - 1, :, j].max() < iou_thr:
        return "no_track"
    i = int(iou[t - 1, :, j].argmax())
    if d_present[i, t]:
        return "wrong_fill" if filled[i][t] else "poor_detection"
    if max_fill is not None and _filled_run(filled[i], d_present[i], t - 1) >= max_fill:
        return "max_fill"
    return "dropped"
