"""TrackEval's HOTA and Identity with their loops over frames and thresholds α done as
array operations.

``trackeval.metrics.HOTA.eval_sequence`` (TrackEval 1.0.0, ``trackeval/metrics/hota.py``
lines 24-116) loops over the frames twice, and in every frame over its 19 thresholds α, then
again over α for the association scores; ``Identity.eval_sequence`` (``identity.py`` lines
31-89) loops over the frames once: on a YouTube-VIS split that is most of the tracking
metrics' time. These subclasses compute the same things on a *dense* sequence (every frame's
similarities in one (F, G, D) array, zeros where a track has no mask, and the presence of
each id per frame; :func:`dense_sequence`, which :func:`objprop.evaluation.hota.sequence_data`
builds without a loop): the first pass (global alignment, potential matches) for all frames
at once, each frame's Hungarian assignment the same call on the same matrix, the per-α
bookkeeping for all α at once. Counts are equal; the float fields are the same numbers
summed in another order (frames and α at once rather than one by one), so they agree to
about 1e-15 relative (``tests/test_hota.py`` compares every field on random sequences).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval import _timing
from trackeval.metrics import HOTA, Identity

_EPS = np.finfo("float").eps


def dense_sequence(data):
    """``(sim, g_present, d_present)`` of a TrackEval sequence: (F, G, D) similarities with
    zeros outside the pairs present in a frame, (F, G) and (F, D) presence per id.
    ``data["dense"]`` when the caller built it (:func:`objprop.evaluation.hota.sequence_data`),
    else scattered from the per-frame lists."""
    if "dense" in data:
        return data["dense"]
    n_frames, n_g, n_d = data["num_timesteps"], data["num_gt_ids"], data["num_tracker_ids"]
    sim = np.zeros((n_frames, n_g, n_d))
    g_present, d_present = np.zeros((n_frames, n_g), bool), np.zeros((n_frames, n_d), bool)
    for t, (g, d, s) in enumerate(zip(data["gt_ids"], data["tracker_ids"],
                                      data["similarity_scores"])):
        g_present[t, g], d_present[t, d] = True, True
        sim[t][np.ix_(g, d)] = s
    return sim, g_present, d_present


def _frame_matches(score, sim, g_present, d_present):
    """Each frame's Hungarian assignment maximising ``score`` (F, G, D) among the ids
    present there, as TrackEval calls it per frame: ``(gt ids, tracker ids, similarity)``
    of every match of every frame, in frame order."""
    gs, ds, sims = [], [], []
    for t in np.flatnonzero(g_present.any(1) & d_present.any(1)):
        g, d = np.flatnonzero(g_present[t]), np.flatnonzero(d_present[t])
        if len(g) == 1 and len(d) == 1:     # the assignment of a 1x1 matrix
            rows = cols = np.zeros(1, int)
        else:
            rows, cols = linear_sum_assignment(-score[t][np.ix_(g, d)])
        gs.append(g[rows])
        ds.append(d[cols])
        sims.append(sim[t, g[rows], d[cols]])
    if not gs:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    return np.concatenate(gs), np.concatenate(ds), np.concatenate(sims)


class VectorizedHOTA(HOTA):
    """:class:`trackeval.metrics.HOTA` with :meth:`eval_sequence` vectorised over frames
    and α."""

    @_timing.time
    def eval_sequence(self, data):
        n_alpha = len(self.array_labels)
        res = {field: np.zeros(n_alpha, dtype=float)
               for field in self.float_array_fields + self.integer_array_fields}
        for field in self.float_fields:
            res[field] = 0
        # the early returns, as TrackEval (hota.py lines 36-45)
        if data["num_tracker_dets"] == 0:
            res["HOTA_FN"] = data["num_gt_dets"] * np.ones(n_alpha, dtype=float)
            res["LocA"] = np.ones(n_alpha, dtype=float)
            res["LocA(0)"] = 1.0
            return res
        if data["num_gt_dets"] == 0:
            res["HOTA_FP"] = data["num_tracker_dets"] * np.ones(n_alpha, dtype=float)
            res["LocA"] = np.ones(n_alpha, dtype=float)
            res["LocA(0)"] = 1.0
            return res
        sim, g_present, d_present = dense_sequence(data)

        # the global alignment score: TrackEval's first loop (hota.py lines 47-66), every
        # frame at once (absent pairs have similarity 0 and add nothing)
        sim_iou_denom = sim.sum(1)[:, np.newaxis, :] + sim.sum(2)[:, :, np.newaxis] - sim
        sim_iou = np.zeros_like(sim)
        sim_iou_mask = sim_iou_denom > 0 + _EPS
        sim_iou[sim_iou_mask] = sim[sim_iou_mask] / sim_iou_denom[sim_iou_mask]
        potential_matches_count = sim_iou.sum(0)
        gt_id_count = g_present.sum(0)[:, np.newaxis].astype(float)
        tracker_id_count = d_present.sum(0)[np.newaxis, :].astype(float)
        global_alignment_score = potential_matches_count / (
            gt_id_count + tracker_id_count - potential_matches_count)

        # every frame's matches, then their counts for all α at once (lines 68-98)
        thresholds = (self.array_labels - _EPS)[:, None]             # (α, 1)
        g, d, matched = _frame_matches(global_alignment_score[np.newaxis] * sim, sim,
                                       g_present, d_present)
        ok = matched[np.newaxis, :] >= thresholds                       # (α, matches)
        tp = ok.sum(1).astype(float)
        res["HOTA_TP"] = tp
        res["HOTA_FN"] = g_present.sum() - tp
        res["HOTA_FP"] = d_present.sum() - tp
        loc = np.where(ok, matched[np.newaxis, :], 0.0).sum(1)
        matches_counts = np.zeros((n_alpha,) + potential_matches_count.shape)
        a, k = np.nonzero(ok)
        np.add.at(matches_counts, (a, g[k], d[k]), 1)

        # association scores per α (lines 100-110), all α at once
        gt_count, tracker_count = gt_id_count[np.newaxis], tracker_id_count[np.newaxis]
        denom = np.maximum(1, tp)
        ass_a = matches_counts / np.maximum(1, gt_count + tracker_count - matches_counts)
        ass_re = matches_counts / np.maximum(1, gt_count)
        ass_pr = matches_counts / np.maximum(1, tracker_count)
        for field, score in (("AssA", ass_a), ("AssRe", ass_re), ("AssPr", ass_pr)):
            res[field] = np.array([np.sum(matches_counts[i] * score[i])
                                   for i in range(n_alpha)]) / denom
        res["LocA"] = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
        return self._compute_final_fields(res)


class VectorizedIdentity(Identity):
    """:class:`trackeval.metrics.Identity` with its loop over frames (identity.py lines
    54-63) done for all frames at once; the assignment after it is TrackEval's code."""

    @_timing.time
    def eval_sequence(self, data):
        res = {field: 0 for field in self.fields}
        if data["num_tracker_dets"] == 0:
            res["IDFN"] = data["num_gt_dets"]
            return res
        if data["num_gt_dets"] == 0:
            res["IDFP"] = data["num_tracker_dets"]
            return res
        sim, g_present, d_present = dense_sequence(data)
        both = g_present[:, :, np.newaxis] & d_present[:, np.newaxis, :]
        potential_matches_count = (both & (sim >= self.threshold)).sum(0).astype(float)
        gt_id_count = g_present.sum(0).astype(float)
        tracker_id_count = d_present.sum(0).astype(float)

        # TrackEval's cost matrices and assignment (identity.py lines 65-89)
        num_gt_ids, num_tracker_ids = data["num_gt_ids"], data["num_tracker_ids"]
        n = num_gt_ids + num_tracker_ids
        fp_mat, fn_mat = np.zeros((n, n)), np.zeros((n, n))
        fp_mat[num_gt_ids:, :num_tracker_ids] = 1e10
        fn_mat[:num_gt_ids, num_tracker_ids:] = 1e10
        for gt_id in range(num_gt_ids):
            fn_mat[gt_id, :num_tracker_ids] = gt_id_count[gt_id]
            fn_mat[gt_id, num_tracker_ids + gt_id] = gt_id_count[gt_id]
        for tracker_id in range(num_tracker_ids):
            fp_mat[:num_gt_ids, tracker_id] = tracker_id_count[tracker_id]
            fp_mat[tracker_id + num_gt_ids, tracker_id] = tracker_id_count[tracker_id]
        fn_mat[:num_gt_ids, :num_tracker_ids] -= potential_matches_count
        fp_mat[:num_gt_ids, :num_tracker_ids] -= potential_matches_count
        match_rows, match_cols = linear_sum_assignment(fn_mat + fp_mat)
        res["IDFN"] = fn_mat[match_rows, match_cols].sum().astype(int)
        res["IDFP"] = fp_mat[match_rows, match_cols].sum().astype(int)
        res["IDTP"] = (gt_id_count.sum() - res["IDFN"]).astype(int)
        return self._compute_final_fields(res)
