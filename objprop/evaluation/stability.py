"""Temporal stability: what AP averages away and the paper argues about.

ObjProp's claim is that propagation keeps objects from dropping out on hard frames. AP sees
that only indirectly (a video IoU a little higher). These metrics look at it directly, per
ground-truth track and its best-matching result track:

* ``missed_frames``: fraction of the frames where the object is visible but its result
  track has no mask (None or empty) — the drop-outs;
* ``flicker``: number of on → off → on gaps of that result over the object's visible frames
  (a track that drops out and comes back);
* ``fragmentation``: number of distinct result tracks (same category) that cover the
  object (frame IoU ≥ ``iou_thr``) on at least one frame — identity switches / re-starts;
* ``jitter``: over consecutive frames where both the object and the result are there,
  |IoU(result_t, result_t+1) − IoU(gt_t, gt_t+1)|: how much more (or less) the predicted
  mask changes between frames than the object does;
* with ToyVIS's ``hard_frames``: per-frame recall (frame IoU ≥ ``iou_thr``) on hard frames
  versus the other frames.

Averages: ``missed_frames``, ``flicker``, ``jitter`` over matched ground-truth tracks
(``matched_fraction`` says how many that is), ``fragmentation`` over tracks covered by at
least one result, the recalls over all visible instance-frames (unmatched tracks count as
misses). An average over no tracks is ``None`` (JSON null), not a reassuring 0.
"""
import numpy as np

from . import tracks as T

# a ground-truth track is matched by a result track (and an instance-frame counts as
# segmented) at IoU at least this: the usual detection threshold (AP@50)
MATCH_IOU = 0.5


def _mean(values):
    return float(np.mean(values)) if len(values) else None


def flicker_count(on):
    """Number of off-runs with an on-frame before and after them (on → off → on)."""
    on = np.asarray(on, dtype=bool)
    idx = np.flatnonzero(on)
    if len(idx) < 2:
        return 0
    inner = on[idx[0]:idx[-1] + 1]
    return int(np.count_nonzero(inner[:-1] & ~inner[1:]))   # on→off edges inside the span


def _consecutive_ious(track, frames):
    """IoU of ``track``'s masks at frames t and t+1 for each t in ``frames``: the
    intersection as the area of pycocotools' RLE merge, one call for all pairs (the same
    integers ``mask.iou`` divides, a third of its time called pair by pair); 0 where either
    mask is empty."""
    import pycocotools.mask as mask_utils
    frames = np.asarray(frames, dtype=int)
    both = (track.areas[frames] > 0) & (track.areas[frames + 1] > 0)
    out = np.zeros(len(frames))
    if both.any():
        t = frames[both]
        i = mask_utils.area([mask_utils.merge([track.rles[f], track.rles[f + 1]],
                                              intersect=True) for f in t]).astype(float)
        out[both] = i / (track.areas[t] + track.areas[t + 1] - i)
    return out


def _jitter(det, gt):
    """Mean |ΔIoU_result − ΔIoU_gt| over consecutive frames with everything visible."""
    both = det.visible & gt.visible
    frames = np.flatnonzero(both[:-1] & both[1:])
    if len(frames) == 0:
        return None
    return float(np.mean(np.abs(_consecutive_ious(det, frames) -
                                _consecutive_ious(gt, frames))))


def _video_stats(gts, dets, hard, iou_thr, acc, vious, frame_ious):
    """Add one video's per-track numbers to the accumulator ``acc``; ``vious``, ``frame_ious``:
    the (D, G) video and (F, D, G) frame IoUs of ``dets`` and ``gts``."""
    for g, gt in enumerate(gts):
        if gt.iscrowd:
            continue
        visible = gt.visible
        acc["n_gt"] += 1
        fious, covering, best = _match(g, gts, dets, iou_thr, vious, frame_ious)
        if covering:
            acc["fragmentation"].append(len(covering))
        matched = best is not None
        hits = fious[best] >= iou_thr if matched else np.zeros(len(visible), bool)
        for t in np.flatnonzero(visible):
            acc["hard_hits" if str(t) in hard else "easy_hits"].append(bool(hits[t]))
        if not matched or not visible.any():
            continue
        acc["matched"] += 1
        on = dets[best].visible[visible]
        acc["missed_frames"].append(float(np.mean(~on)))
        acc["flicker"].append(flicker_count(on))
        jitter = _jitter(dets[best], gt)
        if jitter is not None:
            acc["jitter"].append(jitter)


def _match(g, gts, dets, iou_thr, vious, frame_ious):
    """Ground-truth track ``g`` against the result tracks of its category: their frame
    IoUs ``{d: (F,)}``, those covering it (frame IoU ≥ ``iou_thr`` on a visible frame: what
    fragmentation counts) and its match (the best video IoU, ≥ ``iou_thr``; the first wins
    ties; None: unmatched). ``vious``: the (D, G) video IoUs, ``frame_ious`` the (F, D, G)
    frame IoUs of every pair (:func:`~objprop.evaluation.tracks.all_frame_ious`)."""
    gt = gts[g]
    same = [d for d, det in enumerate(dets) if det.category_id == gt.category_id]
    fious = {d: frame_ious[:, d, g] for d in same}
    covering = [d for d in same if (fious[d][gt.visible] >= iou_thr).any()]
    best = max(same, key=lambda d: vious[d, g], default=None)
    return fious, covering, (best if best is not None and vious[best, g] >= iou_thr else None)


def track_timeline(gt, results, video_id, index, iou_thr=MATCH_IOU, score_thr=None):
    """One ground-truth track, frame by frame, as the stability metrics count it: the
    ``index``-th annotation of video ``video_id`` against the result tracks of its category
    (highest score first; ``score_thr`` keeps those scoring at least that much).

    Returns ``visible`` (F bool: the object is there), ``tracks`` (one per result track
    that covers it on some visible frame: ``score``, ``iou`` (F,) frame IoUs, ``visible``
    (F bool: the track has a mask), ``match``: the track its missed frames and flicker are
    counted on), ``missed_frames``, ``flicker``
    and ``fragmentation`` of this one track (None where it has no match)."""
    one = dict(gt, videos=[v for v in gt["videos"] if v["id"] == video_id],
               annotations=[a for a in gt["annotations"] if a["video_id"] == video_id])
    pairs = T.VideoPairs(one, [r for r in results if r["video_id"] == video_id
                               and (score_thr is None or r["score"] >= score_thr)])
    dets, gts, vious, frame_ious = _ranked_video(pairs, video_id)
    fious, covering, best = _match(index, gts, dets, iou_thr, vious, frame_ious)
    visible = gts[index].visible
    on = dets[best].visible[visible] if best is not None else None
    return dict(video_id=video_id, index=index, visible=visible, iou_thr=iou_thr,
                tracks=[dict(score=dets[d].score, iou=fious[d], visible=dets[d].visible,
                             match=d == best) for d in covering],
                missed_frames=None if on is None else float(np.mean(~on)),
                flicker=None if on is None else flicker_count(on),
                fragmentation=len(covering) or None)


def most_unstable_track(gt, results, iou_thr=MATCH_IOU, score_thr=None):
    """(video id, annotation index) of the matched ground-truth track with the most flicker,
    then the most fragmentation (ties: the first in file order); None when none is matched.
    Where a figure can show what the stability numbers count."""
    kept = [r for r in results if score_thr is None or r["score"] >= score_thr]
    pairs = T.VideoPairs(gt, kept)
    best_key, best = None, None
    for v in gt["videos"]:
        dets, gts, vious, frame_ious = _ranked_video(pairs, v["id"])
        for g, gtr in enumerate(gts):
            if gtr.iscrowd:
                continue
            _, covering, match = _match(g, gts, dets, iou_thr, vious, frame_ious)
            if match is None:
                continue
            key = (flicker_count(dets[match].visible[gtr.visible]), len(covering))
            if best_key is None or key > best_key:
                best_key, best = key, (v["id"], g)
    return best


def _ranked_video(pairs, vid):
    """Video ``vid`` of ``pairs``: its result tracks highest score first, its ground-truth
    tracks, and their (D, G) video IoUs and (F, D, G) frame IoUs in that order."""
    dets = pairs.dt_by_video[vid]
    order = list(_score_order(dets))
    return ([dets[i] for i in order], pairs.gt_by_video[vid]) + _ious_of(pairs, vid, order)


def _ious_of(pairs, vid, order):
    """The (D, G) video and (F, D, G) frame IoUs of ``vid``'s result tracks ``order``
    (indices, in that order) against all its ground-truth tracks."""
    order = np.asarray(order, dtype=int)
    return pairs.video_ious(vid)[order], pairs.frame_ious(vid)[:, order]


def _score_order(dets):
    """Indices of ``dets``, highest score first (stable), so ties in IoU go to the more
    confident track."""
    return np.argsort([-d.score for d in dets], kind="mergesort")


def _by_score(dets):
    return [dets[i] for i in _score_order(dets)]


# the averaged metrics, and where each video's share of them is kept (``by_video``)
AVERAGED = ("missed_frames", "flicker", "fragmentation", "jitter")
RECALLS = (("recall_easy_frames", "easy_hits"), ("recall_hard_frames", "hard_hits"))


def _new_acc():
    return dict(n_gt=0, matched=0, missed_frames=[], flicker=[], fragmentation=[],
                jitter=[], hard_hits=[], easy_hits=[])


def _accumulate(gt, pairs, iou_thr, score_thr=None):
    """One accumulator per video of ``gt`` (in its order)."""
    accs = []
    for v in gt["videos"]:
        dets = pairs.dt_by_video[v["id"]]
        order = [i for i in _score_order(dets)
                 if score_thr is None or dets[i].score >= score_thr]
        acc = _new_acc()
        _video_stats(pairs.gt_by_video[v["id"]], [dets[i] for i in order],
                     v.get("hard_frames") or {}, iou_thr, acc, *_ious_of(pairs, v["id"], order))
        accs.append(acc)
    return accs


def _merge(accs):
    out = _new_acc()
    for acc in accs:
        for k, v in acc.items():
            out[k] += v     # counts add, lists extend (in place: out's lists are its own)
    return out


def stability_metrics(gt, results, iou_thr=MATCH_IOU, score_thr=None, pairs=None,
                      by_video=False):
    """Temporal-stability metrics of ``results`` (see the module docstring).

    Returns ``n_gt_tracks``, ``matched_fraction``, ``missed_frames``, ``flicker``,
    ``fragmentation``, ``jitter`` and, when any video lists ``hard_frames``,
    ``recall_easy_frames`` and ``recall_hard_frames``. ``score_thr`` keeps only results
    scoring at least that much (then ``score_thr`` is in the output too): what a user who
    shows confident tracks sees, and a number low-score tracks cannot improve. ``pairs``:
    the :class:`~objprop.evaluation.tracks.VideoPairs` of ``gt`` and ``results``, shared
    with the caller's other metrics. ``by_video``: also each video's share of every
    average, ``by_video = {metric: {"sums": [...], "counts": [...]}}`` in ``gt``'s video
    order, so that the average over any multiset of videos (a bootstrap draw) is
    ``sum(sums) / sum(counts)`` over it.
    """
    if pairs is None:
        pairs = T.VideoPairs(gt, results if score_thr is None
                             else [r for r in results if r["score"] >= score_thr])
    accs = _accumulate(gt, pairs, iou_thr, score_thr)
    acc = _merge(accs)
    out = dict(n_gt_tracks=acc["n_gt"],
               matched_fraction=acc["matched"] / acc["n_gt"] if acc["n_gt"] else None,
               **{k: _mean(acc[k]) for k in AVERAGED})
    hard = any(v.get("hard_frames") for v in gt["videos"])
    if hard:
        out.update({name: _mean(acc[key]) for name, key in RECALLS})
    if score_thr is not None:
        out["score_thr"] = score_thr
    if by_video:
        keys = [(k, k) for k in AVERAGED] + (list(RECALLS) if hard else [])
        out["by_video"] = {name: dict(sums=[float(np.sum(a[key])) for a in accs],
                                      counts=[len(a[key]) for a in accs])
                           for name, key in keys}
    return out


def stability_by_frame_kind(gt, results, hard_frames=None, iou_thr=MATCH_IOU):
    """Per-frame recall by kind of frame: ``{"easy": r, "blur": r, ...}`` plus
    ``{"n_easy": n, ...}`` counts of visible instance-frames.

    ``hard_frames``: ``{video_id: {str(frame): kind}}``; by default each video's own
    ``hard_frames`` (ToyVIS). A recall over no frames is ``None``.
    """
    if hard_frames is not None:
        gt = dict(gt, videos=[dict(v, hard_frames=hard_frames.get(v["id"], {}))
                              for v in gt["videos"]])
    gt_by_video, dt_by_video = T.gt_tracks(gt), T.result_tracks(gt, results)
    hits = {"easy": []}
    for v in gt["videos"]:
        kinds = v.get("hard_frames") or {}
        for g, gtr in enumerate(gt_by_video[v["id"]]):
            if gtr.iscrowd:
                continue
            frame_hits = _frame_hits(gtr, g, gt_by_video[v["id"]],
                                     _by_score(dt_by_video[v["id"]]), iou_thr)
            for t in np.flatnonzero(gtr.visible):
                hits.setdefault(kinds.get(str(t), "easy"), []).append(bool(frame_hits[t]))
    out = {k: _mean(h) for k, h in hits.items()}
    out.update({f"n_{k}": len(h) for k, h in hits.items()})
    return out


def _frame_hits(gtr, g, gts, dets, iou_thr):
    """(F,) bool: the best-matching result covers ground-truth track ``g`` on frame t."""
    same = [d for d, det in enumerate(dets) if det.category_id == gtr.category_id]
    if not same:
        return np.zeros(len(gtr.rles), bool)
    sub = [dets[d] for d in same]
    inter = T.frame_intersections(sub, [gtr])
    vious = T.video_ious(sub, [gtr], inter)[:, 0]
    best = int(np.argmax(vious))
    if vious[best] < iou_thr:
        return np.zeros(len(gtr.rles), bool)
    return T.frame_ious(inter, sub[best], gtr, best, 0) >= iou_thr
