"""TrackEval's HOTA with its loops over the localisation thresholds α done as array
operations.

``trackeval.metrics.HOTA.eval_sequence`` (TrackEval 1.0.0, ``trackeval/metrics/hota.py``
lines 24-116) loops, in every frame, over its 19 thresholds α, and then again over α for the
association scores: on a YouTube-VIS split that is most of the tracking metrics' time. This
subclass computes the same thing: the first pass (the global alignment score) is TrackEval's
own code, each frame's Hungarian assignment is the same call on the same matrix, and only
the per-α bookkeeping is done for all α at once. Counts are equal; the float fields add the
same numbers per frame in the same order (zeros where TrackEval skips), so they agree to the
last bits (``tests/test_hota.py`` compares every field on random sequences).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval import _timing
from trackeval.metrics import HOTA

_EPS = np.finfo("float").eps


class VectorizedHOTA(HOTA):
    """:class:`trackeval.metrics.HOTA` with :meth:`eval_sequence` vectorised over α."""

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

        # the global alignment score: TrackEval's first loop (hota.py lines 47-66)
        potential_matches_count = np.zeros((data["num_gt_ids"], data["num_tracker_ids"]))
        gt_id_count = np.zeros((data["num_gt_ids"], 1))
        tracker_id_count = np.zeros((1, data["num_tracker_ids"]))
        for t, (gt_ids_t, tracker_ids_t) in enumerate(zip(data["gt_ids"],
                                                          data["tracker_ids"])):
            similarity = data["similarity_scores"][t]
            sim_iou_denom = (similarity.sum(0)[np.newaxis, :] +
                             similarity.sum(1)[:, np.newaxis] - similarity)
            sim_iou = np.zeros_like(similarity)
            sim_iou_mask = sim_iou_denom > 0 + _EPS
            sim_iou[sim_iou_mask] = similarity[sim_iou_mask] / sim_iou_denom[sim_iou_mask]
            potential_matches_count[gt_ids_t[:, np.newaxis], tracker_ids_t[np.newaxis, :]] \
                += sim_iou
            gt_id_count[gt_ids_t] += 1
            tracker_id_count[0, tracker_ids_t] += 1
        global_alignment_score = potential_matches_count / (
            gt_id_count + tracker_id_count - potential_matches_count)

        # every frame's matches, then their counts for all α at once (lines 68-98)
        thresholds = (self.array_labels - _EPS)[:, None]             # (α, 1)
        tp, fn, fp, loc = (np.zeros(n_alpha) for _ in range(4))
        matched_gt, matched_tracker, matched_sim = [], [], []
        for t, (gt_ids_t, tracker_ids_t) in enumerate(zip(data["gt_ids"],
                                                          data["tracker_ids"])):
            if len(gt_ids_t) == 0:
                fp += len(tracker_ids_t)
                continue
            if len(tracker_ids_t) == 0:
                fn += len(gt_ids_t)
                continue
            similarity = data["similarity_scores"][t]
            score_mat = global_alignment_score[gt_ids_t[:, np.newaxis],
                                               tracker_ids_t[np.newaxis, :]] * similarity
            match_rows, match_cols = linear_sum_assignment(-score_mat)
            sim = similarity[match_rows, match_cols]
            ok = sim[np.newaxis, :] >= thresholds                       # (α, matches)
            n = ok.sum(1)
            tp += n
            fn += len(gt_ids_t) - n
            fp += len(tracker_ids_t) - n
            loc += np.where(ok, sim[np.newaxis, :], 0.0).sum(1)
            matched_gt.append(gt_ids_t[match_rows])
            matched_tracker.append(tracker_ids_t[match_cols])
            matched_sim.append(sim)
        matches_counts = np.zeros((n_alpha,) + potential_matches_count.shape)
        if matched_sim:
            g, d, sim = (np.concatenate(x) for x in (matched_gt, matched_tracker, matched_sim))
            a, k = np.nonzero(sim[np.newaxis, :] >= thresholds)
            np.add.at(matches_counts, (a, g[k], d[k]), 1)
        res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"] = tp, fn, fp

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
