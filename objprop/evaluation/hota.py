"""Tracking metrics beside AP: HOTA, DetA, AssA, with CLEAR (MOTA, IDSW) and Identity (IDF1).

AP scores each track as a whole; these score the frame-by-frame association, so identity
switches and fragmented tracks show. They are TrackEval's own metric classes (the
``trackeval`` package, 1.0.0), fed what its ``YouTubeVIS`` dataset class would feed them,
and combined as its YouTube-VIS runner does:

* per category and video, the ground-truth tracks and the result tracks of that category;
  at frame t every track with a mask there (``segmentations[t]`` not null) is a detection,
  and the similarity of a ground-truth and a result detection is their mask IoU at t
  (TrackEval ``datasets/youtube_vis.py`` ``get_preprocessed_seq_data`` and
  ``_calculate_similarities``; no detection is removed, crowd tracks included);
* the videos of a category combined (``combine_sequences``), then the categories averaged
  (``combine_classes_class_averaged``, TrackEval's ``cls_comb_cls_av``, what its runner
  reports for YouTube-VIS) over the categories that have a ground-truth or a result track in
  the split. This departs from TrackEval, which counts a category with neither as 0, so
  that a perfect result on a split missing some categories scored below 1 (HOTA 0.6 on two
  ToyVIS videos); COCO-style AP leaves such categories out too. ``empty_classes=True``
  gives TrackEval's number. ``HOTA_det_av``, ``DetA_det_av``, ``AssA_det_av``: the
  detection-averaged combination (``cls_comb_det_av``: every category's detections pooled,
  so frequent categories weigh more), which empty categories do not change;
* HOTA, DetA and AssA are the means over TrackEval's localisation thresholds α.

The per-frame intersections come from :class:`objprop.evaluation.tracks.VideoPairs` (one
batched RLE call per frame, shared with the other metrics of the file), not from TrackEval's
loader. Results below
``score_thr`` are dropped first: every result is a track here, and a low-score false
positive costs as much as a confident one (AP ranks them instead).
HOTA's per-sequence step is TrackEval's, vectorised over α
(:class:`~objprop.evaluation.hota_vectorized.VectorizedHOTA`: the same matches and counts).
``tests/test_hota.py`` checks the numbers against TrackEval's own YouTube-VIS runner.
"""
import numpy as np

from ..errors import ObjPropError
from .tracks import VideoPairs

TRACKING_SCORE_THR = 0.5
# what `objprop evaluate` reports (top-level keys), from TrackEval's field names
REPORTED = {"HOTA": ("HOTA", "HOTA"), "DetA": ("HOTA", "DetA"), "AssA": ("HOTA", "AssA"),
            "LocA": ("HOTA", "LocA"), "MOTA": ("CLEAR", "MOTA"), "IDSW": ("CLEAR", "IDSW"),
            "IDF1": ("Identity", "IDF1")}


def _metrics():
    try:
        import trackeval
    except ImportError as exc:
        raise ObjPropError(f"the tracking metrics need trackeval ({exc}); `make setup` "
                           f"installs it")
    from .hota_vectorized import VectorizedCLEAR, VectorizedHOTA, VectorizedIdentity
    quiet = dict(PRINT_CONFIG=False)
    return {"HOTA": VectorizedHOTA(quiet), "CLEAR": VectorizedCLEAR(quiet),
            "Identity": VectorizedIdentity(quiet)}


def sequence_data(dets, gts, n_frames, frame_ious):
    """TrackEval's per-sequence input for one category of one video, dense: ids relabelled
    0..n-1 over the tracks that appear, and under ``dense`` the (F, G, D) mask IoUs from
    ``frame_ious`` (the (F, D, G) IoUs of ``dets`` and ``gts``,
    :meth:`~objprop.evaluation.tracks.VideoPairs.frame_ious` sliced) with each id's presence
    per frame, which the vectorised metrics read
    (:func:`~objprop.evaluation.hota_vectorized.dense_sequence`: the same content as
    TrackEval's per-frame lists, which are not built)."""
    d_present = np.stack([d.present for d in dets]) if dets else np.zeros((0, n_frames), bool)
    g_present = np.stack([g.present for g in gts]) if gts else np.zeros((0, n_frames), bool)
    d_keep, g_keep = d_present.any(1), g_present.any(1)   # relabel: tracks that appear
    d_on, g_on = d_present[d_keep].T, g_present[g_keep].T                 # (F, D), (F, G)
    sim = np.swapaxes(frame_ious[:, d_keep][:, :, g_keep], 1, 2)
    return dict(num_timesteps=n_frames, num_gt_ids=int(g_keep.sum()),
                num_tracker_ids=int(d_keep.sum()), num_gt_dets=int(g_on.sum()),
                num_tracker_dets=int(d_on.sum()), dense=(sim, g_on, d_on))


def frame_lists(data):
    """TrackEval's per-frame lists (``gt_ids``, ``tracker_ids``, ``similarity_scores``) of a
    dense sequence: what TrackEval's own metric classes read."""
    sim, g_on, d_on = data["dense"]
    out = dict(gt_ids=[], tracker_ids=[], similarity_scores=[])
    for t in range(data["num_timesteps"]):
        gi, di = np.flatnonzero(g_on[t]), np.flatnonzero(d_on[t])
        out["gt_ids"].append(gi)
        out["tracker_ids"].append(di)
        out["similarity_scores"].append(sim[t][np.ix_(gi, di)])
    return dict(data, **out)


def tracking_metrics(gt, results, score_thr=TRACKING_SCORE_THR, pairs=None,
                     empty_classes=False):
    """HOTA, DetA, AssA, LocA (means over α), MOTA, IDSW and IDF1 of ``results`` on ``gt``,
    TrackEval's class-averaged combination over the categories with a track on either side
    (``empty_classes=True``: over all of ``gt``'s categories, as TrackEval), results with a
    score below ``score_thr`` dropped; and the detection-averaged HOTA, DetA and AssA
    (``*_det_av``). Values in [0, 1] (MOTA may be negative; IDSW a count).
    ``pairs``: the :class:`~objprop.evaluation.tracks.VideoPairs` of ``gt`` and ``results``,
    shared with the caller's other metrics."""
    metrics = _metrics()
    if pairs is None:
        pairs = VideoPairs(gt, [r for r in results if r["score"] >= score_thr])
    gts, dets = pairs.gt_by_video, pairs.dt_by_video
    lengths = {v["id"]: v["length"] for v in gt["videos"]}
    per_class, seen = {}, set()
    for cat in gt["categories"]:
        by_video = {name: {} for name in metrics}
        for vid in gts:
            di = [i for i, d in enumerate(dets[vid])
                  if d.category_id == cat["id"] and d.score >= score_thr]
            gi = [j for j, g in enumerate(gts[vid]) if g.category_id == cat["id"]]
            if not di and not gi and by_video["HOTA"]:
                # a video without this category on either side adds zero to every sum the
                # combination takes (counts, and weights of the weighted means), so it is
                # left out: on YouTube-VIS most (video, category) pairs are such; a class
                # keeps at least one sequence, which combine_sequences needs
                continue
            if di or gi:
                seen.add(cat["name"])
            data = sequence_data([dets[vid][i] for i in di], [gts[vid][j] for j in gi],
                                 lengths[vid], pairs.frame_ious(vid)[:, di][:, :, gi])
            for name, metric in metrics.items():
                by_video[name][vid] = metric.eval_sequence(data)
        per_class[cat["name"]] = {name: metrics[name].combine_sequences(by_video[name])
                                  for name in metrics}
    averaged = {c: r for c, r in per_class.items() if empty_classes or c in seen} or per_class
    combined = {name: metric.combine_classes_class_averaged(
        {c: res[name] for c, res in averaged.items()}) for name, metric in metrics.items()}
    out = {key: float(np.mean(combined[metric][field]))
           for key, (metric, field) in REPORTED.items()}
    pooled = metrics["HOTA"].combine_classes_det_averaged(
        {c: res["HOTA"] for c, res in per_class.items()})
    out.update({f"{field}_det_av": float(np.mean(pooled[field]))
                for field in ("HOTA", "DetA", "AssA")})
    out["IDSW"] = int(round(out["IDSW"]))
    out["score_thr"] = score_thr
    return out
