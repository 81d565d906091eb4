"""TrackEval's HOTA, CLEAR and Identity with their loops over frames and thresholds α done
as array operations where TrackEval's order allows.

``trackeval.metrics.HOTA.eval_sequence`` (TrackEval 1.0.0, ``trackeval/metrics/hota.py``
lines 24-116) loops over the frames twice, and in every frame over its 19 thresholds α, then
again over α for the association scores; ``Identity.eval_sequence`` (``identity.py`` lines
31-89) loops over the frames once, ``CLEAR.eval_sequence`` (``clear.py`` lines 38-130) too,
carrying each frame's matches to the next: on a YouTube-VIS split that is most of the
tracking metrics' time. These subclasses compute the same things on a *dense* sequence (every frame's
similarities in one (F, G, D) array, zeros where a track has no mask, and the presence of
each id per frame; :func:`dense_sequence`, which :func:`objprop.evaluation.hota.sequence_data`
builds without a loop): the first pass (global alignment, potential matches) for all frames
at once, each frame's Hungarian assignment the same call on the same matrix, the per-α
bookkeeping for all α at once; CLEAR keeps its frame loop (a frame's matching depends on the
last one's) but visits only the frames with both sides present, where TrackEval's state
changes, and counts the others at once. Counts are equal; the float fields are the same numbers
summed in another order (frames and α at once rather than one by one), so they agree to
about 1e-15 relative (``tests/test_hota.py`` compares every field on random sequences).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval import _timing
from trackeval.metrics import CLEAR, HOTA, Identity

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
    of every match of every frame, in frame order. A frame with one id on each side (most
    of them on YouTube-VIS) matches that pair, the assignment of a 1x1 matrix: those are
    taken for all frames at once, the others one assignment each."""
    n_g, n_d = g_present.sum(1), d_present.sum(1)
    single = np.flatnonzero((n_g == 1) & (n_d == 1))
    frames = [single]
    gs, ds = [g_present[single].argmax(1)], [d_present[single].argmax(1)]
    for t in np.flatnonzero((n_g > 0) & (n_d > 0) & ((n_g > 1) | (n_d > 1))):
        g, d = np.flatnonzero(g_present[t]), np.flatnonzero(d_present[t])
        rows, cols = linear_sum_assignment(-score[t][np.ix_(g, d)])
        frames.append(np.full(len(rows), t))
        gs.append(g[rows])
        ds.append(d[cols])
    frames = np.concatenate(frames)
    order = np.argsort(frames, kind="stable")                      # frame order, as TrackEval
    t, g, d = frames[order], np.concatenate(gs)[order], np.concatenate(ds)[order]
    return g, d, sim[t, g, d]


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
            res[field] = (matches_counts * score).reshape(n_alpha, -1).sum(1) / denom
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


class VectorizedCLEAR(CLEAR):
    """:class:`trackeval.metrics.CLEAR` on a dense sequence: the frames with ground truth
    or detections on one side only are counted at once (TrackEval ``continue``s past them
    without touching its state, clear.py lines 58-65); the frames with both run TrackEval's
    loop body unchanged."""

    @_timing.time
    def eval_sequence(self, data):
        res = {field: 0 for field in self.fields}
        if data["num_tracker_dets"] == 0:
            res["CLR_FN"] = data["num_gt_dets"]
            res["ML"] = data["num_gt_ids"]
            res["MLR"] = 1.0
            return res
        if data["num_gt_dets"] == 0:
            res["CLR_FP"] = data["num_tracker_dets"]
            res["MLR"] = 1.0
            return res
        sim, g_present, d_present = dense_sequence(data)
        n_g, n_d = g_present.sum(1), d_present.sum(1)
        res["CLR_FP"] = int(n_d[n_g == 0].sum())
        res["CLR_FN"] = int(n_g[(n_g > 0) & (n_d == 0)].sum())
        num_gt_ids = data["num_gt_ids"]
        gt_id_count = g_present.sum(0).astype(float)   # every frame with the id present
        gt_matched_count = np.zeros(num_gt_ids)
        gt_frag_count = np.zeros(num_gt_ids)
        prev_tracker_id = np.nan * np.zeros(num_gt_ids)
        prev_timestep_tracker_id = np.nan * np.zeros(num_gt_ids)
        one = (n_g == 1) & (n_d == 1)
        g_one, d_one = g_present.argmax(1), d_present.argmax(1)
        # every frame's ids present, as slices of one nonzero call (frame-major order)
        g_at, d_at = np.nonzero(g_present)[1], np.nonzero(d_present)[1]
        g_end, d_end = np.cumsum(n_g), np.cumsum(n_d)
        for t in np.flatnonzero((n_g > 0) & (n_d > 0)):
            if one[t]:        # one id on each side: the same steps on scalars
                self._one_pair(res, g_one[t], d_one[t], sim[t, g_one[t], d_one[t]],
                               prev_tracker_id, prev_timestep_tracker_id, gt_matched_count,
                               gt_frag_count)
                continue
            # TrackEval's loop body (clear.py lines 67-112), gt_id_count counted above
            gt_ids_t = g_at[g_end[t] - n_g[t]:g_end[t]]
            tracker_ids_t = d_at[d_end[t] - n_d[t]:d_end[t]]
            similarity = sim[t, gt_ids_t[:, np.newaxis], tracker_ids_t]
            score_mat = (tracker_ids_t[np.newaxis, :] ==
                         prev_timestep_tracker_id[gt_ids_t[:, np.newaxis]])
            score_mat = 1000 * score_mat + similarity
            score_mat[similarity < self.threshold - _EPS] = 0
            if score_mat.shape == (1, 1):       # the assignment of a 1x1 matrix
                match_rows = match_cols = np.zeros(1, int)
            else:
                match_rows, match_cols = linear_sum_assignment(-score_mat)
            actually_matched_mask = score_mat[match_rows, match_cols] > 0 + _EPS
            match_rows = match_rows[actually_matched_mask]
            match_cols = match_cols[actually_matched_mask]
            matched_gt_ids = gt_ids_t[match_rows]
            matched_tracker_ids = tracker_ids_t[match_cols]
            prev_matched_tracker_ids = prev_tracker_id[matched_gt_ids]
            is_idsw = (np.logical_not(np.isnan(prev_matched_tracker_ids))) & (
                np.not_equal(matched_tracker_ids, prev_matched_tracker_ids))
            res["IDSW"] += int(is_idsw.sum())
            gt_matched_count[matched_gt_ids] += 1
            not_previously_tracked = np.isnan(prev_timestep_tracker_id)
            prev_tracker_id[matched_gt_ids] = matched_tracker_ids
            prev_timestep_tracker_id[:] = np.nan
            prev_timestep_tracker_id[matched_gt_ids] = matched_tracker_ids
            currently_tracked = np.logical_not(np.isnan(prev_timestep_tracker_id))
            gt_frag_count += np.logical_and(not_previously_tracked, currently_tracked)
            num_matches = len(matched_gt_ids)
            res["CLR_TP"] += num_matches
            res["CLR_FN"] += len(gt_ids_t) - num_matches
            res["CLR_FP"] += len(tracker_ids_t) - num_matches
            if num_matches > 0:
                res["MOTP_sum"] += sum(similarity[match_rows, match_cols])
        # TrackEval's summary (clear.py lines 114-128)
        tracked_ratio = gt_matched_count[gt_id_count > 0] / gt_id_count[gt_id_count > 0]
        res["MT"] = np.sum(np.greater(tracked_ratio, 0.8))
        res["PT"] = np.sum(np.greater_equal(tracked_ratio, 0.2)) - res["MT"]
        res["ML"] = num_gt_ids - res["MT"] - res["PT"]
        res["Frag"] = np.sum(np.subtract(gt_frag_count[gt_frag_count > 0], 1))
        res["MOTP"] = res["MOTP_sum"] / np.maximum(1.0, res["CLR_TP"])
        res["CLR_Frames"] = data["num_timesteps"]
        return self._compute_final_fields(res)

    def _one_pair(self, res, g, d, similarity, prev_tracker_id, prev_timestep_tracker_id,
                  gt_matched_count, gt_frag_count):
        """TrackEval's loop body for a frame with one ground-truth id ``g`` and one tracker
        id ``d``: the 1x1 assignment matches them iff the score is positive."""
        score = 1000 * float(d == prev_timestep_tracker_id[g]) + similarity
        if similarity < self.threshold - _EPS:
            score = 0
        was_tracked = not np.isnan(prev_timestep_tracker_id[g])
        prev_timestep_tracker_id[:] = np.nan
        if not score > 0 + _EPS:
            res["CLR_FN"] += 1
            res["CLR_FP"] += 1
            return
        previous = prev_tracker_id[g]
        res["IDSW"] += int(not np.isnan(previous) and d != previous)
        gt_matched_count[g] += 1
        prev_tracker_id[g] = d
        prev_timestep_tracker_id[g] = d
        gt_frag_count[g] += not was_tracked
        res["CLR_TP"] += 1
        res["MOTP_sum"] += sum([similarity])
