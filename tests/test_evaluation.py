"""objprop.evaluation: YouTube-VIS stats on cases computed by hand, parity with
pycocotools' COCOeval on one-frame videos, stability metrics, files and the CLI."""
import json

import numpy as np
import pytest

from objprop.data.ytvis import encode_mask, load_results, load_ytvis
from objprop.errors import ObjPropError
from objprop.evaluation import (STAT_NAMES, evaluate_files, flicker_count, format_table,
                                stability_by_frame_kind, stability_metrics, ytvis_evaluate)
from objprop.evaluation import tracks
from objprop.evaluation.ytvis_eval import AREA_RANGES, evaluate_tracks

AP_NAMES, AR_NAMES = STAT_NAMES[:6], STAT_NAMES[6:]


# --------------------------------------------------------------------------- builders

def box(y, x, bh, bw, h=40, w=60):
    m = np.zeros((h, w), bool)
    m[y:y + bh, x:x + bw] = True
    return m


def enc(masks):
    return [None if m is None else encode_mask(m) for m in masks]


def make_gt(videos, anns, n_cats=2):
    """``videos``: [(length, h, w)]; ``anns``: [dict(video=1-based, cat, masks, crowd)]."""
    return dict(
        videos=[dict(id=i + 1, length=n, height=h, width=w,
                     file_names=[f"v{i}/{t:05d}.jpg" for t in range(n)])
                for i, (n, h, w) in enumerate(videos)],
        categories=[dict(id=c, name=f"cat{c}") for c in range(1, n_cats + 1)],
        annotations=[dict(id=k + 1, video_id=a["video"], category_id=a.get("cat", 1),
                          iscrowd=int(a.get("crowd", 0)), segmentations=enc(a["masks"]),
                          areas=[None if m is None else int(m.sum()) for m in a["masks"]])
                     for k, a in enumerate(anns)])


def res(masks, video=1, cat=1, score=1.0, **extra):
    return dict(video_id=video, category_id=cat, score=score, segmentations=enc(masks),
                **extra)


def gt_as_results(gt, score=1.0):
    return [dict(video_id=a["video_id"], category_id=a["category_id"], score=score,
                 segmentations=a["segmentations"]) for a in gt["annotations"]
            if not a.get("iscrowd")]


def one_track(masks, **result_kw):
    """One video, one GT track of ``masks[0]``, results of the other mask lists."""
    gt_masks, *res_masks = masks
    h, w = next(m for m in gt_masks if m is not None).shape
    gt = make_gt([(len(gt_masks), h, w)], [dict(video=1, masks=gt_masks)])
    return gt, [res(m, **result_kw) for m in res_masks]


# --------------------------------------------------------------------------- the 12 stats

def test_perfect_results_score_one_where_there_is_ground_truth():
    gt = make_gt([(3, 40, 60), (2, 40, 60)],
                 [dict(video=1, cat=1, masks=[box(2, 2, 10, 10), None, box(4, 4, 10, 10)]),
                  dict(video=1, cat=2, masks=[box(20, 30, 8, 8)] * 3),
                  dict(video=2, cat=1, masks=[None, box(5, 5, 5, 5)])])
    out = ytvis_evaluate(gt, gt_as_results(gt))
    for name in STAT_NAMES:
        # every object is small: no medium / large ground truth → -1
        assert out[name] == pytest.approx(-1 if name in ("APm", "APl", "ARm", "ARl")
                                          else 1.0), name
    # approx: COCOeval's precision is tp / (tp + fp + eps), 1 - 2e-16 for one object
    assert out["per_category_AP"] == pytest.approx({"cat1": 1.0, "cat2": 1.0})


def test_shifted_box_iou_one_third_misses_every_threshold():
    gt, results = one_track([[box(10, 10, 10, 10)], [box(10, 15, 10, 10)]])
    one = tracks.gt_tracks(gt)[1], tracks.result_tracks(gt, results)[1]
    assert tracks.video_ious(one[1], one[0])[0, 0] == pytest.approx(1 / 3)
    out = ytvis_evaluate(gt, results)
    assert all(out[n] == 0 for n in ("AP", "AP50", "AP75", "AR1", "AR100"))


def test_video_iou_sums_over_frames_and_gives_fractional_ap():
    # frame 0 exact (I 100, U 100), frame 1 shifted by 2 (I 80, U 120): IoU 180/220 = .818
    # → matched at .50 ... .80 (7 of 10 thresholds), precision 1 there
    gt, results = one_track([[box(10, 10, 10, 10)] * 2,
                             [box(10, 10, 10, 10), box(10, 12, 10, 10)]])
    out = ytvis_evaluate(gt, results)
    assert out["AP"] == pytest.approx(0.7)
    assert out["AP50"] == pytest.approx(1) and out["AP75"] == pytest.approx(1)
    assert out["AR1"] == out["AR100"] == pytest.approx(0.7)


@pytest.mark.parametrize("gt_frames, res_frames", [
    ([1, 1, 1], [1, 1, 0]),         # result missing a frame: I 200, U 300
    ([1, 1, 0], [1, 1, 1]),         # GT missing a frame: the same
    ([1, 1, 1, 0], [1, 1, 0, 0]),   # both missing frame 3: adds nothing
])
def test_null_frame_on_one_side_adds_the_other_side_to_the_union(gt_frames, res_frames):
    b = box(5, 5, 10, 10)
    gt, results = one_track([[b if k else None for k in gt_frames],
                             [b if k else None for k in res_frames]])
    dets, gts = tracks.result_tracks(gt, results)[1], tracks.gt_tracks(gt)[1]
    assert tracks.video_ious(dets, gts)[0, 0] == pytest.approx(2 / 3)
    assert ytvis_evaluate(gt, results)["AP"] == pytest.approx(0.4)   # .50 .55 .60 .65


def crowd_case(crowd):
    """A regular object, and a crowd region holding a higher-scored detection."""
    gt = make_gt([(2, 40, 60)],
                 [dict(video=1, masks=[box(2, 2, 8, 8)] * 2),
                  dict(video=1, masks=[box(20, 30, 20, 20)] * 2, crowd=crowd)])
    results = [res([box(2, 2, 8, 8)] * 2, score=0.5),
               res([box(25, 35, 4, 4)] * 2, score=0.9)]
    return gt, results


# the official evaluator's video IoU, transcribed from youtubevos/cocoapi ytvoseval.py
# computeIoU (lines 200-217) in objprop.evaluation.tracks: the plain video IoU, crowd or not
# (the iscrowd list of line 198 is never used: ``maskUtils.iou(d,g,iscrowd)`` is commented
# out, line 199)
ytvoseval_ious = tracks.video_ious_ytvoseval


def test_crowd_tracks_use_the_plain_video_iou_as_the_official_evaluator():
    gt, results = crowd_case(crowd=True)
    # a 4x4 detection inside a 20x20 crowd region: IoU 16/400, so it matches nothing and
    # counts as a false positive above the real object's detection
    assert ytvis_evaluate(gt, results)["AP"] < 1
    # covering the region, it matches the crowd track at every threshold and is ignored
    results[1] = res([box(20, 30, 20, 20)] * 2, score=0.9)
    out = ytvis_evaluate(gt, results)
    assert out["AP"] == pytest.approx(1) and out["AR100"] == 1
    # without the crowd flag the region is one more object, found by that detection
    gt, _ = crowd_case(crowd=False)
    assert ytvis_evaluate(gt, results)["AR100"] == 1


def test_crowd_iou_is_the_plain_video_iou_summed_over_frames():
    crowd = [box(0, 0, 10, 10)] * 2
    det = [box(8, 0, 4, 4), box(4, 4, 4, 4)]    # 8 + 16 inside, areas 32 and 200
    gt = make_gt([(2, 40, 60)], [dict(video=1, masks=crowd, crowd=True)])
    dets = tracks.result_tracks(gt, [res(det)])[1]
    gts = tracks.gt_tracks(gt)[1]
    assert tracks.video_ious(dets, gts)[0, 0] == pytest.approx(24 / 208)
    assert ytvoseval_ious(dets, gts)[0, 0] == pytest.approx(24 / 208)


def area_case():
    """Three 300x300 videos, one object each; areas are means over non-null frames."""
    s = 300
    small = [box(0, 0, 100, 100, s, s), box(0, 0, 150, 150, s, s), None]  # mean 16250
    medium = [box(0, 0, 150, 150, s, s)] * 2                               # 22500
    large = [box(0, 0, 260, 260, s, s)] * 2                                # 67600
    gt = make_gt([(3, s, s), (2, s, s), (2, s, s)],
                 [dict(video=1, masks=small), dict(video=2, masks=medium),
                  dict(video=3, masks=large)], n_cats=1)
    return gt, small, large


def test_area_ranges_use_the_mean_area_over_non_null_frames():
    gt, small, large = area_case()
    assert [t.avg_area for v in (1, 2, 3) for t in tracks.gt_tracks(gt)[v]] == \
        [16250, 22500, 67600]
    out = ytvis_evaluate(gt, [res(small, video=1)])
    # frame 1 alone (22500) would be medium: the mean makes the track small
    assert out["APs"] == pytest.approx(1) and out["ARs"] == 1
    assert out["APm"] == out["APl"] == out["ARm"] == out["ARl"] == 0.0
    assert out["AP"] == pytest.approx(34 / 101)   # recall 1/3 at precision 1
    assert out["AR100"] == pytest.approx(1 / 3)


def test_unmatched_detections_outside_an_area_range_are_ignored_in_it():
    gt, small, _ = area_case()
    fp_large = [box(40, 40, 260, 260, 300, 300)] * 2 + [None]   # misses the small object
    out = ytvis_evaluate(gt, [res(small, video=1, score=0.5),
                              res(fp_large, video=1, score=0.9)])
    assert out["APs"] == pytest.approx(1)   # the false positive is large: ignored for "small"
    assert out["AP"] < 34 / 101       # ... but it counts for "all"


def test_max_dets_cut_off():
    gt_mask = box(30, 50, 6, 6)
    wrong = [box(2, 4 * k, 3, 3) for k in range(10)]       # disjoint from the object
    gt, _ = one_track([[gt_mask]])
    results = [res([m], score=0.99 - 0.01 * k) for k, m in enumerate(wrong)]
    results.append(res([gt_mask], score=0.5))              # ranked 11th
    out = ytvis_evaluate(gt, results)
    assert out["AR1"] == out["AR10"] == 0.0
    assert out["AR100"] == 1.0
    assert out["AP"] == pytest.approx(1 / 11)              # precision 1/11 at recall 1


def test_extra_result_keys_are_ignored():
    gt, results = one_track([[box(10, 10, 10, 10)] * 2,
                             [box(10, 10, 10, 10), box(10, 12, 10, 10)]])
    extra = [dict(r, track_id=7, filled=[False, True]) for r in results]
    assert ytvis_evaluate(gt, extra) == ytvis_evaluate(gt, results)


@pytest.mark.parametrize("kind", ["polygon", "uncompressed"])
def test_polygon_and_uncompressed_rle_ground_truth(kind):
    import pycocotools.mask as mask_utils
    from objprop.data.ytvis import decode_segmentation
    gt, _ = one_track([[box(10, 10, 10, 10)] * 2])
    polygon = [[10.0, 10.0, 25.0, 10.0, 25.0, 30.0, 10.0, 30.0]]
    if kind == "polygon":
        segm = polygon
    else:
        m = decode_segmentation(polygon, 40, 60)
        runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, m.T.ravel(), -1]))).tolist()
        segm = dict(size=[40, 60], counts=([0] if m.T.ravel()[0] else []) + runs)
        assert mask_utils.decode(mask_utils.frPyObjects(segm, 40, 60)).sum() == m.sum()
    gt["annotations"][0]["segmentations"] = [segm, None]
    mask = decode_segmentation(segm, 40, 60)
    out = ytvis_evaluate(gt, [res([mask, None])])
    assert out["AP"] == pytest.approx(1)


def test_empty_results_score_zero():
    gt, _ = one_track([[box(10, 10, 10, 10)] * 2])
    out = ytvis_evaluate(gt, [])
    assert all(out[n] == (-1 if n[-1] in "ml" else 0.0) for n in STAT_NAMES)
    assert out["per_category_AP"] == {"cat1": 0.0, "cat2": -1.0}


# --------------------------------------------------------------------------- parity

def random_blob(rng, h, w):
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(3, 0.6 * h), rng.uniform(3, 0.6 * w)
    yy, xx = np.ogrid[:h, :w]
    m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    if not m.any():
        m[int(min(cy, h - 1)), int(min(cx, w - 1))] = True
    return m


def random_image_set(seed, n_images=40, h=300, w=340, n_cats=3, crowd_rate=0.1):
    """GT and detections per image: perturbed copies, false positives, crowds."""
    rng = np.random.default_rng(seed)
    images, dets = [], []
    for i in range(n_images):
        objs = []
        for _ in range(int(rng.integers(0, 5))):
            objs.append(dict(mask=random_blob(rng, h, w), cat=int(rng.integers(1, n_cats + 1)),
                             crowd=int(rng.random() < crowd_rate)))
        images.append(objs)
        for o in objs:
            for _ in range(int(rng.integers(0, 3))):
                shift = rng.integers(-25, 26, size=2)
                m = np.roll(o["mask"], tuple(int(s) for s in shift), axis=(0, 1))
                cat = o["cat"] if rng.random() < 0.85 else int(rng.integers(1, n_cats + 1))
                dets.append(dict(image=i, mask=m, cat=cat, score=float(rng.random())))
        for _ in range(int(rng.integers(0, 3))):
            dets.append(dict(image=i, mask=random_blob(rng, h, w),
                             cat=int(rng.integers(1, n_cats + 1)), score=float(rng.random())))
    return images, dets, (h, w, n_cats)


def coco_stats(images, dets, size):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    h, w, n_cats = size
    objs = [(i, o) for i, objs in enumerate(images) for o in objs]
    anns = [dict(id=k + 1, image_id=i + 1, category_id=o["cat"], iscrowd=o["crowd"],
                 segmentation=encode_mask(o["mask"]), area=float(o["mask"].sum()),
                 bbox=[0, 0, 1, 1])   # bbox: unused by segm evaluation
            for k, (i, o) in enumerate(objs)]
    coco = COCO()
    coco.dataset = dict(images=[dict(id=i + 1, height=h, width=w) for i in range(len(images))],
                        categories=[dict(id=c, name=f"cat{c}") for c in range(1, n_cats + 1)],
                        annotations=anns)
    coco.createIndex()
    dt = coco.loadRes([dict(image_id=d["image"] + 1, category_id=d["cat"], score=d["score"],
                            segmentation=encode_mask(d["mask"])) for d in dets])
    ev = COCOeval(coco, dt, "segm")
    ev.params.areaRng = AREA_RANGES
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return dict(zip(STAT_NAMES, ev.stats))


def as_one_frame_videos(images, dets, size):
    h, w, n_cats = size
    anns = [dict(video=i + 1, cat=o["cat"], crowd=o["crowd"], masks=[o["mask"]])
            for i, objs in enumerate(images) for o in objs]
    gt = make_gt([(1, h, w)] * len(images), anns, n_cats=n_cats)
    return gt, [res([d["mask"]], video=d["image"] + 1, cat=d["cat"], score=d["score"])
                for d in dets]


@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_cocoeval_on_one_frame_videos(seed):
    # no crowds: COCOeval scores them with its crowd IoU (intersection / result area),
    # the official YouTube-VIS evaluator with the plain IoU (tested against it below)
    images, dets, size = random_image_set(seed, crowd_rate=0.0)
    expected = coco_stats(images, dets, size)
    gt, results = as_one_frame_videos(images, dets, size)
    got = ytvis_evaluate(gt, results)
    assert any(0 < expected[n] < 1 for n in STAT_NAMES)   # not a degenerate case
    for n in STAT_NAMES:
        assert got[n] == pytest.approx(expected[n], abs=1e-6), n


def multi_frame_case(seed=3, videos=(1, 2), h=30, w=40, n=5):
    """Videos of n frames, 3 objects each (some crowds, absent frames), one shifted result
    per object with dropped frames and a random score."""
    rng = np.random.default_rng(seed)
    anns, results = [], []
    for v in videos:
        for _ in range(3):
            masks = [None if rng.random() < 0.2 else random_blob(rng, h, w)
                     for _ in range(n)]
            crowd = rng.random() < 0.2
            anns.append(dict(video=v, cat=int(rng.integers(1, 3)), crowd=crowd,
                             masks=masks))
            results.append(res([None if m is None or rng.random() < 0.2 else
                                np.roll(m, int(rng.integers(-3, 4)), axis=1)
                                for m in masks], video=v, cat=anns[-1]["cat"],
                               score=float(rng.random())))
    return make_gt([(n, h, w)] * len(videos), anns), results


def test_batched_ious_match_the_per_frame_loop_on_multi_frame_videos():
    gt, results = multi_frame_case()
    gts, dts = tracks.gt_tracks(gt), tracks.result_tracks(gt, results)
    for v in (1, 2):
        np.testing.assert_allclose(tracks.video_ious(dts[v], gts[v]),
                                   ytvoseval_ious(dts[v], gts[v]), atol=1e-12)
    ref = evaluate_tracks(gt, gts, dts, iou_fn=ytvoseval_ious, per_video=False)
    got = ytvis_evaluate(gt, results)
    assert {n: got[n] for n in STAT_NAMES} == pytest.approx(
        {n: ref[n] for n in STAT_NAMES}, abs=1e-12)
    assert got["per_category_AP"] == pytest.approx(ref["per_category_AP"], abs=1e-12)


# --------------------------------------------------------------------------- stability

def six_frames(present, shift=0):
    return [box(10, 10 + shift, 10, 10) if k else None for k in present]


def test_stability_at_a_score_threshold_ignores_low_score_tracks():
    """Frames 3-5 are covered only by a low-score track: they count for all results, not for
    the results above the threshold."""
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 1, 1, 1, 1, 1]),
                             six_frames([1, 1, 1, 0, 0, 0])])
    results[0]["score"], results[1]["score"] = 0.1, 0.9
    every = stability_metrics(gt, results)
    confident = stability_metrics(gt, results, score_thr=0.5)
    assert every["missed_frames"] == 0 and confident["missed_frames"] == pytest.approx(0.5)
    assert confident["score_thr"] == 0.5 and "score_thr" not in every
    assert stability_metrics(gt, results, score_thr=0.95)["matched_fraction"] == 0.0


def test_missed_frames_and_flicker():
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 0, 1, 0, 1, 1])])
    s = stability_metrics(gt, results)
    assert s["n_gt_tracks"] == 1 and s["matched_fraction"] == 1.0
    assert s["missed_frames"] == pytest.approx(1 / 3)
    assert s["flicker"] == 2
    assert s["fragmentation"] == 1
    assert s["jitter"] == 0
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 0, 0, 1, 1, 1])])
    assert stability_metrics(gt, results)["flicker"] == 1


def test_flicker_counts_gaps_between_on_frames_only():
    assert flicker_count([0, 1, 0, 0, 1, 0, 1, 0]) == 2
    assert flicker_count([0, 0, 1, 1, 0]) == 0
    assert flicker_count([]) == 0


def test_two_tracks_splitting_an_object_fragment_it():
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 1, 1, 0, 0, 0]),
                             six_frames([0, 0, 0, 1, 1, 1])])
    results[1]["score"] = 0.5
    s = stability_metrics(gt, results)
    assert s["fragmentation"] == 2
    assert s["matched_fraction"] == 1.0            # video IoU 3/6 = .5 each
    assert s["missed_frames"] == pytest.approx(0.5)  # the higher-scored half
    assert s["flicker"] == 0


def test_consecutive_ious_are_pycocotools_iou_pair_by_pair():
    """The jitter's frame-to-frame IoUs (one RLE merge call per track) equal
    ``pycocotools.mask.iou`` called pair by pair, as the metric first did, to the last bit;
    0 where either mask is empty."""
    import pycocotools.mask as mask_utils
    from objprop.evaluation.stability import _consecutive_ious
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 12))
        masks = [rng.random((24, 30)) < rng.uniform(0, 0.6) if rng.random() > 0.2
                 else np.zeros((24, 30), bool) for _ in range(n)]
        track = tracks.make_track(enc(masks), 24, 30)
        frames = np.arange(n - 1)
        expected = [float(mask_utils.iou([track.rles[t]], [track.rles[t + 1]], [0])[0, 0])
                    if track.areas[t] > 0 and track.areas[t + 1] > 0 else 0.0
                    for t in frames]
        assert _consecutive_ious(track, frames).tolist() == expected


def test_jitter_compares_frame_to_frame_change_with_the_ground_truth():
    # the object stands still (IoU 1 between frames), the prediction moves 2 px and back
    b = box(10, 10, 10, 10)
    gt, results = one_track([[b] * 3, [b, box(10, 12, 10, 10), b]])
    assert stability_metrics(gt, results)["jitter"] == pytest.approx(1 / 3)


def test_unmatched_objects_lower_matched_fraction_only():
    gt = make_gt([(6, 40, 60)], [dict(video=1, masks=six_frames([1] * 6)),
                                 dict(video=1, cat=2, masks=six_frames([1] * 6))])
    s = stability_metrics(gt, [res(six_frames([1] * 6))])
    assert s["n_gt_tracks"] == 2 and s["matched_fraction"] == 0.5
    assert s["missed_frames"] == 0
    empty = stability_metrics(gt, [])
    assert empty["matched_fraction"] == 0 and empty["missed_frames"] is None


def test_recall_on_hard_and_easy_frames():
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 0, 1, 0, 1, 1])])
    gt["videos"][0]["hard_frames"] = {"1": "blur", "3": "occlusion", "4": "low_contrast"}
    s = stability_metrics(gt, results)
    assert s["recall_hard_frames"] == pytest.approx(1 / 3)
    assert s["recall_easy_frames"] == 1.0
    kinds = stability_by_frame_kind(gt, results)
    assert kinds["blur"] == kinds["occlusion"] == 0 and kinds["low_contrast"] == 1
    assert kinds["easy"] == 1.0 and kinds["n_easy"] == 3
    assert stability_by_frame_kind(gt, results, hard_frames={})["easy"] == pytest.approx(4 / 6)


# --------------------------------------------------------------------------- files, CLI

def write(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("change, message", [
    (dict(video_id=99), "unknown video_id 99"),
    (dict(category_id=42), "unknown category_id 42"),
    (dict(segmentations=[None]), "has 1 segmentations but video 1 has 2 frames"),
])
def test_bad_results_are_one_line_errors_naming_the_file(tmp_path, change, message):
    gt, results = one_track([[box(10, 10, 10, 10)] * 2, [box(10, 10, 10, 10)] * 2])
    gt_path = write(tmp_path / "gt.json", gt)
    res_path = write(tmp_path / "res.json", [dict(results[0], **change)])
    with pytest.raises(ObjPropError) as err:
        evaluate_files(gt_path, res_path)
    assert message in str(err.value) and "res.json" in str(err.value)
    assert "\n" not in str(err.value)


def test_evaluate_files_with_empty_results_writes_zeros(tmp_path):
    gt, _ = one_track([[box(10, 10, 10, 10)] * 2])
    out = tmp_path / "sub" / "metrics.json"
    metrics = evaluate_files(write(tmp_path / "gt.json", gt),
                             write(tmp_path / "res.json", []), out)
    saved = json.loads(out.read_text())
    assert saved["AP"] == 0 and saved["stability"]["matched_fraction"] == 0
    assert "AP" in format_table(metrics)


def test_same_category_intersections_are_the_all_pairs_ones_of_one_category():
    """The shared intersections pair a result only with ground truth of its category (the
    others 0): the same counts as all pairs where the categories agree, on videos with
    two categories."""
    gt, results = multi_frame_case(seed=7, videos=(1, 2, 3), n=6)
    gts, dts = tracks.gt_tracks(gt), tracks.result_tracks(gt, results)
    mixed = 0
    for v in (1, 2, 3):
        same = np.array([[d.category_id == g.category_id for g in gts[v]] for d in dts[v]])
        everything = tracks.frame_intersections(dts[v], gts[v])
        mixed += int((everything[:, ~same] > 0).sum())
        np.testing.assert_array_equal(
            tracks.frame_intersections(dts[v], gts[v], same_category=True),
            everything * same)
    assert mixed > 0      # the case has overlapping masks of two categories


def test_one_results_file_computes_its_intersections_once(tmp_path, monkeypatch):
    """`objprop evaluate` scores the 12 stats, stability and HOTA from one set of per-frame
    intersections per video, with the numbers each metric gives alone."""
    from objprop.evaluation.hota import tracking_metrics
    gt, results = multi_frame_case(seed=5, videos=(1, 2, 3))
    alone = dict(ytvis_evaluate(gt, results), stability=stability_metrics(gt, results),
                 tracking=tracking_metrics(gt, results))
    calls, real = [], tracks.frame_intersections
    monkeypatch.setattr(tracks, "frame_intersections",
                        lambda dets, gts, **kw: calls.append(len(dets)) or real(dets, gts, **kw))
    shared = evaluate_files(write(tmp_path / "gt.json", gt), write(tmp_path / "res.json",
                                                                     results))
    assert len(calls) == len(gt["videos"])
    assert {k: shared[k] for k in alone} == alone
    assert 0 < alone["AP"] < 1 and alone["stability"]["matched_fraction"] > 0


def test_evaluate_files_refuses_ground_truth_without_annotations(tmp_path):
    gt, _ = one_track([[box(10, 10, 10, 10)] * 2])
    gt["annotations"] = []
    with pytest.raises(ObjPropError, match="no annotations"):
        evaluate_files(write(tmp_path / "gt.json", gt), write(tmp_path / "res.json", []))


def test_toyvis_ground_truth_as_results_is_perfect(toyvis_small, tmp_path):
    gt_path = toyvis_small / "annotations" / "instances_valid.json"
    gt = load_ytvis(gt_path)
    results = [dict(r, track_id=k, filled=[False] * len(r["segmentations"]))
               for k, r in enumerate(gt_as_results(gt))]
    res_path = write(tmp_path / "res.json", results)
    load_results(res_path, gt)
    out = tmp_path / "metrics.json"
    metrics = evaluate_files(gt_path, res_path, out)
    for name in ("AP", "AP50", "AP75", "AR100"):
        assert metrics[name] == pytest.approx(1), name
    s = metrics["stability"]
    assert s["matched_fraction"] == 1 and s["missed_frames"] == 0 and s["flicker"] == 0
    assert s["fragmentation"] == 1 and s["jitter"] == 0
    assert s["recall_hard_frames"] in (None, 1.0) and s["recall_easy_frames"] == 1.0
    assert json.loads(out.read_text())["AP"] == pytest.approx(1)
    table = format_table(metrics)
    assert "100.0" in table and "flicker" in table and "HOTA" in table
    # tracking metrics beside AP: perfect too, although some categories are in no video
    # of this split (TrackEval's class average would count them as 0)
    present = {a["category_id"] for a in gt["annotations"]}
    assert len(present) < len(gt["categories"])
    for key in ("HOTA", "DetA", "AssA"):
        assert metrics[key] == metrics["tracking"][key] == pytest.approx(1.0), key
        assert metrics["tracking"][f"{key}_det_av"] == pytest.approx(1.0), key
    assert metrics["tracking"]["IDSW"] == 0


def test_cli_evaluate_writes_metrics_and_reports_errors_in_one_line(toyvis_small, tmp_path,
                                                                    capsys):
    from objprop.cli import main
    gt_path = toyvis_small / "annotations" / "instances_valid.json"
    res_path = write(tmp_path / "res.json", gt_as_results(load_ytvis(gt_path)))
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--gt", str(gt_path), "--results", str(res_path),
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["AP"] == pytest.approx(1)
    assert "YouTube-VIS metrics" in capsys.readouterr().out
    bad = write(tmp_path / "bad.json", [dict(video_id=1)])
    assert main(["evaluate", "--gt", str(gt_path), "--results", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.json" in err and "lacks" in err and len(err.splitlines()) == 1


def test_one_track_timeline_counts_what_the_metrics_count():
    """The timeline the stability chapter draws: a match that drops out twice, and a second
    track covering two frames; its counts are the metrics' on this one-track split, and the
    track with the most flicker is the one picked to draw."""
    from objprop.evaluation.stability import most_unstable_track, track_timeline
    gt, results = one_track([six_frames([1] * 6), six_frames([1, 0, 1, 0, 1, 1]),
                             six_frames([0, 1, 0, 1, 0, 0])])
    results[1]["score"] = 0.5
    tl = track_timeline(gt, results, 1, 0)
    m = stability_metrics(gt, results)
    assert (tl["flicker"], tl["fragmentation"]) == (m["flicker"], m["fragmentation"]) == (2, 2)
    assert tl["missed_frames"] == pytest.approx(m["missed_frames"]) == pytest.approx(1 / 3)
    assert [t["match"] for t in tl["tracks"]] == [True, False]   # highest score first
    assert tl["tracks"][0]["visible"].tolist() == [True, False, True, False, True, True]
    # above the second track's score only the match is left: no fragmentation
    assert track_timeline(gt, results, 1, 0, score_thr=0.9)["fragmentation"] == 1
    steady = six_frames([1] * 6)
    gt2 = make_gt([(6, 40, 60), (6, 40, 60)], [dict(video=1, masks=steady),
                                               dict(video=2, masks=steady)])
    res2 = [res(steady, video=1), res(six_frames([1, 0, 1, 1, 1, 1]), video=2)]
    assert most_unstable_track(gt2, res2) == (2, 0)
    assert most_unstable_track(gt2, []) is None
    # on a split of several videos the picked track's timeline is that video's alone
    assert track_timeline(gt2, res2, *most_unstable_track(gt2, res2))["flicker"] == 1
    from objprop.present.stability import plot_track_timeline
    fig = plot_track_timeline({"first": tl, "second": tl})
    assert len(fig.axes) == 2 and "flicker 2, fragmentation 2" in fig.axes[0].get_title()


def test_stability_by_video_adds_up_to_every_average():
    """Each video's share (sum, count) of every average: over all videos it gives the
    metric itself, so a bootstrap over videos can re-average any draw."""
    gt = make_gt([(6, 40, 60), (6, 40, 60), (6, 40, 60)],
                 [dict(video=1, masks=six_frames([1] * 6)),
                  dict(video=2, masks=six_frames([1] * 6)),
                  dict(video=2, masks=six_frames([1] * 6, shift=30)),
                  dict(video=3, masks=six_frames([1] * 6))])
    for v, hard in zip(gt["videos"], ({"1": 1, "2": 1}, {"3": 1}, {})):
        v["hard_frames"] = hard
    results = [res(six_frames([1, 0, 1, 0, 1, 1]), video=1),
               res(six_frames([1, 1, 1, 1, 0, 0]), video=2),
               res(six_frames([1, 1, 1, 1, 1, 1], shift=30), video=2, score=0.3),
               res(six_frames([0, 0, 1, 1, 1, 1]), video=3)]
    s = stability_metrics(gt, results, by_video=True)
    for key, share in s["by_video"].items():
        assert len(share["sums"]) == len(share["counts"]) == 3
        if s[key] is not None:
            assert sum(share["sums"]) / sum(share["counts"]) == pytest.approx(s[key]), key
    assert s["by_video"]["flicker"]["counts"] == [1, 2, 1]
    assert "by_video" not in stability_metrics(gt, results)
    confident = stability_metrics(gt, results, score_thr=0.5, by_video=True)
    assert confident["by_video"]["missed_frames"]["counts"] == [1, 1, 1]


def test_all_frame_ious_are_frame_ious_pair_by_pair():
    """The stability metrics read every pair's frame IoUs from one array: equal, element
    by element, to ``frame_ious`` of each pair (empty and absent masks included)."""
    rng = np.random.default_rng(4)
    n = 6
    def track():
        return tracks.make_track(enc([None if rng.random() < 0.2 else
                                      rng.random((12, 16)) < rng.uniform(0, 0.5)
                                      for _ in range(n)]), 12, 16)
    dets, gts = [track() for _ in range(4)], [track() for _ in range(3)]
    inter = tracks.frame_intersections(dets, gts)
    every = tracks.all_frame_ious(inter, dets, gts)
    for d in range(4):
        for g in range(3):
            assert every[:, d, g].tolist() == \
                tracks.frame_ious(inter, dets[d], gts[g], d, g).tolist()
    assert (every > 0).any() and (every == 0).any()
