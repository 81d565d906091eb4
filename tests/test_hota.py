"""objprop.evaluation.hota: TrackEval's metric classes on this project's intersections give
HOTA = 1 for a perfect result and TrackEval's own YouTube-VIS runner's numbers otherwise."""
import json

import numpy as np
import pytest

from objprop.evaluation.hota import tracking_metrics
from tests.test_evaluation import box, gt_as_results, make_gt, res


def case():
    """Three videos, three categories: a track that switches identity half-way, a missed
    frame, a wrongly placed mask, a false positive of the other category and a low-score
    one; video 3 has no category 2 on either side, and category 3 is in no video (the
    (video, category) sequences objprop skips, and a class that TrackEval counts empty)."""
    a, b = box(2, 2, 10, 10), box(20, 30, 8, 8)
    gt = make_gt([(4, 40, 60), (3, 40, 60), (3, 40, 60)],
                 [dict(video=1, cat=1, masks=[a, a, a, a]),
                  dict(video=1, cat=2, masks=[b, b, None, b]),
                  dict(video=2, cat=1, masks=[box(5, 5, 6, 6)] * 3),
                  dict(video=3, cat=1, masks=[a, a, None])], n_cats=3)
    results = [res([a, a, None, None], score=0.9), res([None, None, a, a], score=0.8),
               res([b, b, None, box(0, 0, 8, 8)], cat=2, score=0.7),
               res([box(30, 40, 5, 5)] * 3, video=2, cat=2, score=0.6),
               res([box(5, 5, 6, 6)] * 3, video=2, score=0.95),
               res([a, None, None], video=3, score=0.9),
               res([a] * 4, score=0.1)]
    return gt, results


def uncompressed(mask):
    """Uncompressed RLE (column-major run lengths, starting with zeros), as YouTube-VIS's
    official ground truth stores masks."""
    flat = np.asarray(mask, bool).flatten(order="F")
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    counts = runs if not flat[0] else [0] + runs
    return {"size": list(mask.shape), "counts": counts}


def test_a_perfect_result_scores_one():
    gt, _ = case()   # category 3 is in no video: left out of the class average
    m = tracking_metrics(gt, gt_as_results(gt))
    for key in ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDF1", "HOTA_det_av", "DetA_det_av",
                "AssA_det_av"):
        assert m[key] == pytest.approx(1.0), key
    # TrackEval's own combination counts it as 0: two of three categories
    assert tracking_metrics(gt, gt_as_results(gt), empty_classes=True)["HOTA"] == \
        pytest.approx(2 / 3)
    assert m["IDSW"] == 0
    worse = tracking_metrics(gt, case()[1])
    assert worse["HOTA"] < 1 and worse["AssA"] < 1 and worse["IDSW"] >= 1


def test_the_numbers_are_trackevals_own_youtube_vis_runner(tmp_path):
    import trackeval
    gt, results = case()
    from objprop.data.ytvis import decode_segmentation
    official = json.loads(json.dumps(gt))
    for a in official["annotations"]:  # as the official files: sizes, uncompressed RLE
        a.update(height=40, width=60, segmentations=[
            None if s is None else uncompressed(decode_segmentation(s, 40, 60))
            for s in a["segmentations"]])
    split = tmp_path / "gt" / "youtube_vis_valid"
    split.mkdir(parents=True)
    (split / "gt.json").write_text(json.dumps(official))
    kept = [r for r in results if r["score"] >= 0.5]
    trk = tmp_path / "trackers" / "youtube_vis_valid" / "ours" / "data"
    trk.mkdir(parents=True)
    (trk / "results.json").write_text(json.dumps(kept))
    evaluator = trackeval.Evaluator(dict(
        USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False,
        OUTPUT_SUMMARY=False, OUTPUT_DETAILED=False, PLOT_CURVES=False,
        OUTPUT_EMPTY_CLASSES=False, DISPLAY_LESS_PROGRESS=True, PRINT_ONLY_COMBINED=True))
    dataset = trackeval.datasets.YouTubeVIS(dict(
        GT_FOLDER=str(tmp_path / "gt") + "/", TRACKERS_FOLDER=str(tmp_path / "trackers") + "/",
        SPLIT_TO_EVAL="valid", PRINT_CONFIG=False, OUTPUT_FOLDER=str(tmp_path / "out")))
    quiet = dict(PRINT_CONFIG=False)
    out, _ = evaluator.evaluate([dataset], [trackeval.metrics.HOTA(quiet),
                                            trackeval.metrics.CLEAR(quiet),
                                            trackeval.metrics.Identity(quiet)])
    combined = out["YouTubeVIS"]["ours"]["COMBINED_SEQ"]
    theirs = combined["cls_comb_cls_av"]
    ours = tracking_metrics(gt, results, score_thr=0.5, empty_classes=True)
    # by default the class average leaves out category 3 (no track on either side)
    default = tracking_metrics(gt, results, score_thr=0.5)
    names = [c["name"] for c in gt["categories"] if c["id"] != 3]
    assert default["HOTA"] == pytest.approx(
        np.mean([np.mean(combined[n]["HOTA"]["HOTA"]) for n in names]), abs=1e-9)
    for field in ("HOTA", "DetA", "AssA"):
        assert default[f"{field}_det_av"] == pytest.approx(
            float(np.mean(combined["cls_comb_det_av"]["HOTA"][field])), abs=1e-9)
    for key, (metric, field) in (("HOTA", ("HOTA", "HOTA")), ("DetA", ("HOTA", "DetA")),
                                 ("AssA", ("HOTA", "AssA")), ("MOTA", ("CLEAR", "MOTA")),
                                 ("IDF1", ("Identity", "IDF1"))):
        assert ours[key] == pytest.approx(float(np.mean(theirs[metric][field])), abs=1e-9), key
    assert ours["IDSW"] == int(theirs["CLEAR"]["IDSW"])
    assert 0 < ours["HOTA"] < 1


def random_sequence(rng, n_frames, n_gt, n_dt):
    """TrackEval's per-sequence input: random presence, ids, and similarities with some
    exact ties and values at the α thresholds."""
    g_present = rng.random((n_gt, n_frames)) < 0.7
    d_present = rng.random((n_dt, n_frames)) < 0.6
    data = dict(num_timesteps=n_frames, gt_ids=[], tracker_ids=[], similarity_scores=[],
                num_gt_ids=n_gt, num_tracker_ids=n_dt,
                num_gt_dets=int(g_present.sum()), num_tracker_dets=int(d_present.sum()))
    for t in range(n_frames):
        gi, di = np.flatnonzero(g_present[:, t]), np.flatnonzero(d_present[:, t])
        sim = rng.random((len(gi), len(di)))
        sim[rng.random(sim.shape) < 0.3] = 0.0
        sim[rng.random(sim.shape) < 0.1] = 0.5   # on a threshold
        data["gt_ids"].append(gi)
        data["tracker_ids"].append(di)
        data["similarity_scores"].append(sim)
    return data


@pytest.mark.parametrize("name", ["Identity", "CLEAR"])
def test_vectorised_identity_and_clear_are_trackevals(name):
    import trackeval
    from objprop.evaluation import hota_vectorized
    quiet = dict(PRINT_CONFIG=False)
    ours = getattr(hota_vectorized, f"Vectorized{name}")(quiet)
    theirs = getattr(trackeval.metrics, name)(quiet)
    rng = np.random.default_rng(1)
    for f, g, d in [(rng.integers(1, 25), rng.integers(1, 12), rng.integers(1, 12))
                    for _ in range(150)] + [(10, 3, 0), (10, 0, 3), (1, 1, 1), (30, 12, 12)] \
            + [(25, 1, 1)] * 10 + [(25, 1, 2), (25, 2, 1)] * 5:   # one id a side: own path
        data = random_sequence(rng, int(f), int(g), int(d))
        if g == 0:
            data.update(num_gt_dets=0)
        if d == 0:
            data.update(num_tracker_dets=0)
        a, b = ours.eval_sequence(data), theirs.eval_sequence(data)
        assert a.keys() == b.keys()
        for field in b:
            assert a[field] == pytest.approx(b[field], rel=1e-12, abs=1e-15), field


def test_sequence_data_is_trackevals_input():
    """The dense sequence the vectorised metrics read is TrackEval's per-frame lists,
    scattered, and TrackEval's own classes on those lists give the same numbers."""
    import trackeval
    from objprop.evaluation.hota import _metrics, frame_lists, sequence_data
    from objprop.evaluation.hota_vectorized import dense_sequence
    from objprop.evaluation.tracks import VideoPairs
    quiet = dict(PRINT_CONFIG=False)
    theirs = {"HOTA": trackeval.metrics.HOTA(quiet), "CLEAR": trackeval.metrics.CLEAR(quiet),
              "Identity": trackeval.metrics.Identity(quiet)}
    gt, results = case()
    pairs = VideoPairs(gt, results)
    checked = 0
    for vid, dets in pairs.dt_by_video.items():
        gts = pairs.gt_by_video[vid]
        data = sequence_data(dets, gts, pairs.n_frames[vid], pairs.frame_ious(vid))
        lists = {k: v for k, v in frame_lists(data).items() if k != "dense"}
        for ours, scattered in zip(data["dense"], dense_sequence(lists)):
            np.testing.assert_array_equal(ours, scattered)
        for name, metric in _metrics().items():
            a, b = metric.eval_sequence(data), theirs[name].eval_sequence(lists)
            for field in b:
                assert np.allclose(a[field], b[field], rtol=1e-12, atol=1e-15), (name, field)
        checked += int(data["num_gt_dets"] > 0 and data["num_tracker_dets"] > 0)
    assert checked > 0


def test_vectorised_hota_is_trackevals_hota():
    import trackeval
    from objprop.evaluation.hota_vectorized import VectorizedHOTA
    ours, theirs = VectorizedHOTA(dict(PRINT_CONFIG=False)), trackeval.metrics.HOTA(
        dict(PRINT_CONFIG=False))
    rng = np.random.default_rng(0)
    shapes = [(rng.integers(1, 25), rng.integers(1, 12), rng.integers(1, 12))
              for _ in range(150)] + [(10, 3, 0), (10, 0, 3), (1, 1, 1), (30, 12, 12)]
    seqs = {}
    for i, (f, g, d) in enumerate(shapes):
        data = random_sequence(rng, int(f), int(g), int(d))
        if g == 0:
            data.update(num_gt_dets=0)
        if d == 0:
            data.update(num_tracker_dets=0)
        with np.errstate(invalid="ignore"):   # an id absent from every frame: 0/0 in both
            a, b = ours.eval_sequence(data), theirs.eval_sequence(data)
        assert a.keys() == b.keys()
        for field in b:
            if field in ours.integer_array_fields:
                np.testing.assert_array_equal(a[field], b[field], err_msg=field)
            else:
                np.testing.assert_allclose(a[field], b[field], rtol=1e-12, atol=1e-15,
                                           err_msg=field)
        seqs[i] = (a, b)
    # and so are their combinations over sequences
    ca = ours.combine_sequences({k: v[0] for k, v in seqs.items()})
    cb = theirs.combine_sequences({k: v[1] for k, v in seqs.items()})
    for field in cb:
        np.testing.assert_allclose(ca[field], cb[field], rtol=1e-12, err_msg=field)
