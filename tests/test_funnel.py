"""The filling funnel: every ground-truth instance-frame lands in the stage that failed, and
the propagation oracle fills exactly the misses that filling could reach."""
import copy

import numpy as np
import torch

from objprop.data.ytvis import encode_mask, load_ytvis
from objprop.evaluation.funnel import STAGES, filling_funnel

H = W = 16


def region(k, shift=0):
    m = np.zeros((H, W), bool)
    m[4 * k:4 * k + 4, 2 + shift:6 + shift] = True
    return m


def rle(mask):
    return None if mask is None else encode_mask(mask)


def case():
    """Three instances over five frames (frame 3 is hard) and three result tracks, built so
    that every stage of the funnel is hit: see the expected counts below."""
    R1, R2, R3 = region(0), region(1), region(2)
    bad2 = region(1, shift=8)   # R2 moved away: IoU 0 with it
    gt = dict(videos=[dict(id=1, height=H, width=W, length=5, hard_frames={"3": "blur"},
                           file_names=[f"{f}.jpg" for f in range(5)])],
              categories=[dict(id=1, name="a")],
              annotations=[dict(id=i + 1, video_id=1, category_id=1, iscrowd=0,
                                segmentations=[rle(m) for m in ms])
                           for i, ms in enumerate(([R1] * 5, [R2] * 5,
                                                   [None, None, R3, R3, R3]))])
    tracks = [  # (masks per frame, filled per frame)
        ([R1, R1, R1, None, None], [0, 0, 1, 0, 0]),      # A follows instance 1
        ([R2, bad2, R2, bad2, None], [0, 0, 0, 1, 0]),    # B follows instance 2, badly
        ([None, None, None, R3, None], [0, 0, 0, 0, 0]),  # C finds instance 3 once
    ]
    results = [dict(video_id=1, category_id=1, score=s, segmentations=[rle(m) for m in ms],
                    filled=[bool(x) for x in fl])
               for (ms, fl), s in zip(tracks, (0.9, 0.5, 0.3))]
    return gt, results


def test_each_instance_frame_lands_in_the_stage_that_failed():
    gt, results = case()
    f = filling_funnel(gt, results, max_fill=1)
    assert f["stages"] == dict(detected=5, filled=1, new=1, no_track=2, poor_detection=1,
                               wrong_fill=1, max_fill=1, dropped=1)
    assert sum(f["stages"].values()) == 13 and list(f["stages"]) == [k for k, _ in STAGES]
    assert f["hard_stages"] == dict(detected=1, filled=0, new=0, no_track=0, poor_detection=0,
                                    wrong_fill=1, max_fill=1, dropped=0)
    # A's fill is right and A matches instance 1 over the video (3 of 5 frames: IoU 0.6);
    # B's fill matches nothing
    assert f["fills"] == dict(total=2, correct=1, counted=1, on_hard_frames=1)
    assert sorted(f["fill_track_scores"]) == [0.5, 0.9]
    # a larger max_fill: A could still be filled in frame 3, so the mask was dropped
    assert filling_funnel(gt, results, max_fill=3)["stages"]["dropped"] == 2


def test_the_oracle_fills_every_miss_a_track_reached(toyvis_small):
    """Results made from the ground truth with holes: the oracle fills each hole whose
    track was there in the frame before (chaining through consecutive holes), and no miss
    it could reach is left in the stages filling is responsible for."""
    from objprop.config import load_config
    from objprop.inference import build_model, build_test_dataset
    from objprop.studies.filling import oracle_fill
    torch.manual_seed(0)
    cfg = load_config("configs/objprop_r18_fpn_toy.py", data_root=toyvis_small)
    model, dataset = build_model(cfg), build_test_dataset(cfg)
    gt = load_ytvis(cfg.data.test.ann_file)
    results, holes, chained = [], 0, 0
    for a in gt["annotations"]:
        segs = copy.deepcopy(a["segmentations"])
        present = [f for f, s in enumerate(segs) if s is not None]
        for f in present[1:3]:  # drop the 2nd and 3rd frames the instance is in
            if f - 1 in present:
                chained += segs[f - 1] is None  # the frame before is a hole too
                segs[f] = None
                holes += 1
        results.append(dict(video_id=a["video_id"], category_id=a["category_id"], score=0.9,
                            segmentations=segs, filled=[False] * len(segs)))
    before = filling_funnel(gt, results, max_fill=0)
    # filling off: a first hole has its track in the frame before, a second one does not
    assert holes > chained > 0
    assert before["stages"]["max_fill"] == holes - chained
    assert before["stages"]["no_track"] == chained
    oracle, n = oracle_fill(model, dataset, gt, results, progress=False)
    assert n == holes
    after = filling_funnel(gt, oracle, max_fill=None)
    assert after["stages"]["max_fill"] == after["stages"]["dropped"] == 0
    assert after["stages"]["poor_detection"] == before["stages"]["poor_detection"] == 0
    assert after["fills"]["total"] == holes
    # a fill after a wrong fill counts as "no track" in the funnel (its track no longer
    # overlaps the instance in the frame before); every other hole is filled, right or wrong
    assert after["stages"]["filled"] + after["stages"]["wrong_fill"] >= holes - chained
    assert results[0]["filled"] == [False] * len(results[0]["filled"])  # input untouched


def test_the_funnel_sentence_names_the_largest_loss_and_the_oracle_s_worth():
    from objprop import roles
    from objprop.present.propagation import funnel_sentence
    gt, results = case()
    f = filling_funnel(gt, results, max_fill=1)
    oracle = copy.deepcopy(f)
    oracle["hard_stages"].update(filled=1, wrong_fill=3)
    runs = [dict(role=roles.OBJPROP, seed=s, funnel=f) for s in (0, 1)] + \
           [dict(role=roles.PROP_ORACLE, seed=s, funnel=oracle) for s in (0, 1)]
    text = funnel_sentence(runs)
    # hard frame 3: instance 1 detected; 2 filled wrong; 3 absent after max_fill (1 each)
    assert text.startswith("On hard frames ObjProp finds 1 of 3 instance-frames")
    assert "1 of 4 of them would be right" in text and "the branch's own masks" in text
    assert funnel_sentence(runs[2:]) == "No filling run to follow."
