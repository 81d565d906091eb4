"""objprop.studies.branch: the chapter's step-by-step branch is the one inference runs, and the
IoU-by-δ measurement covers exactly the instance-frames it should."""
import numpy as np
import pytest
import torch

from objprop.config import load_config
from objprop.data.ytvis import annotations_by_video, load_ytvis
from objprop.inference import build_model, build_test_dataset
from objprop.present import propagation as show
from objprop.studies import branch, variants
from tests.model_utils import SyntheticVideo, run_video, toy_model
from tests.test_online_inference import BOXES, H, W, ScriptedDetections


def test_the_chapter_propagates_exactly_what_inference_fills():
    """Frame 1 misses instance 0: ObjProp fills it from its box in frame 0. The chapter's
    `propagate` on the same pair and box must give the same mask, bit for bit."""
    model, _ = toy_model("objprop")
    model.eval()
    torch.nn.init.normal_(model.prop_head.mask_pred.weight, std=0.5)  # a non-flat mask
    model.filler.min_area, model.filler.suppress_iou = 0, 1.01  # keep the fill, whatever it is
    outs = run_video(model, ScriptedDetections({(1, 0)}), n_frames=2)
    k = outs[1]["track_ids"].index(0)
    assert outs[1]["filled"][k]
    filled = outs[1]["masks"][k]
    assert 0 < filled.sum() < H * W
    cache = branch.FrameCache(model, SyntheticVideo(n_frames=2), 0)
    steps = branch.propagate(model, cache, 1, 0, [BOXES[0].numpy()], labels=[0])
    np.testing.assert_array_equal(steps["mask_prob"][0] > model.filler.mask_thr, filled)
    # the intermediates are the head's: rows of W sum to 1, W b is the object map
    W_ = steps["affinity"]
    assert torch.allclose(W_.sum(1), torch.ones(len(W_)), atol=1e-5)
    b = steps["box_maps"].flatten(1)[0]
    assert torch.allclose((W_ @ b).view(steps["feature_size"]), steps["propagated"][0],
                          atol=1e-5)


def test_iou_records_cover_every_instance_frame_pair(toyvis_small):
    torch.manual_seed(0)
    cfg = load_config("configs/objprop_r18_fpn_toy.py", data_root=toyvis_small)
    model = build_model(cfg)
    dataset = build_test_dataset(cfg)
    gt = load_ytvis(cfg.data.test.ann_file)
    deltas = (1, 3)
    records = branch.propagation_ious(model, dataset, gt, deltas=deltas, progress=False)
    # counted independently: an instance present (non-empty) at t and at t-δ
    expected = 0
    for v in gt["videos"]:
        for a in annotations_by_video(gt)[v["id"]]:
            present = [s is not None for s in a["segmentations"]]
            expected += sum(present[t] and present[t - d] for d in deltas
                            for t in range(d, v["length"]))
    assert expected > 0
    gt_records = [r for r in records if r["source"] == "gt"]
    assert len(gt_records) == expected
    assert len(records) == 2 * expected
    assert all(0.0 <= r["iou"] <= 1.0 and 0.0 <= r["detector_iou"] <= 1.0 for r in records)
    hard = {(v["id"], int(f)) for v in gt["videos"] for f in v.get("hard_frames", {})}
    assert all(r["hard"] == ((r["video_id"], r["frame"]) in hard) for r in records)


def test_the_split_side_by_side_gives_the_records_of_one_pass(toyvis_small, tmp_path):
    config = "configs/objprop_r18_fpn_toy.py"
    torch.manual_seed(0)
    cfg = load_config(config, data_root=toyvis_small)
    checkpoint = tmp_path / "weights.pth"
    torch.save(dict(state_dict=build_model(cfg).state_dict(), meta={}), checkpoint)
    model, dataset = build_model(cfg, str(checkpoint)), build_test_dataset(cfg)
    ids = [v["id"] for v in dataset.vid_infos]
    assert len(ids) >= 2   # two parts, two processes
    one = branch.propagation_ious(model, dataset, load_ytvis(cfg.data.test.ann_file),
                                  deltas=(1, 2), progress=False)
    parts = branch.split_propagation_ious(config, str(checkpoint), toyvis_small, "valid",
                                          ids, deltas=(1, 2), jobs=2)
    key = (lambda r: (r["video_id"], r["frame"], r["delta"], r["instance"], r["source"]))
    assert [key(r) for r in parts] == [key(r) for r in one]
    # one thread per process against this process's threads: the last bits may move
    assert [r["iou"] for r in parts] == pytest.approx([r["iou"] for r in one], abs=1e-3)


def test_summary_per_source_kind_and_delta():
    rec = lambda src, hard, d, iou, det: dict(source=src, hard=hard, delta=d, iou=iou,  # noqa
                                              detector_iou=det)
    rows = branch.summarize_ious([rec("gt", False, 1, 0.8, 0.6), rec("gt", False, 1, 0.4, 0.9),
                                       rec("gt", True, 1, 0.2, 0.1), rec("detector", False, 2, 0.0, 0.5)])
    by = {(r["source"], r["frames"], r["delta"]): r for r in rows}
    easy = by["gt", "easy", 1]
    assert easy["n"] == 2 and easy["iou"] == pytest.approx(0.6) and easy["hit"] == 0.5
    assert easy["detector_iou"] == pytest.approx(0.75) and easy["beats_detector"] == 0.5
    assert by["gt", "hard", 1]["beats_detector"] == 1.0
    assert by["detector", "easy", 2]["hit"] == 0.0
    assert "| ground truth, easy frames | 1 | 2 | 0.60 | 0.50 | 0.75 | 0.50 |" in \
        show.ious_table(rows)


def test_pick_pair_prefers_a_hard_frame(toyvis_small):
    gt = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")
    vid, t, ann = branch.pick_pair(gt, delta=1)
    video = next(v for v in gt["videos"] if v["id"] == vid)
    a = next(a for a in gt["annotations"] if a["id"] == ann)
    assert a["segmentations"][t] is not None and a["segmentations"][t - 1] is not None
    if any(v.get("hard_frames") for v in gt["videos"]):
        assert str(t) in video["hard_frames"]


def test_branch_variants_train_apart_and_are_measured_per_seed(toyvis_small, tmp_path):
    """`python -m objprop.book variants`: each variant with options trains in its own folder
    (its config records the option); every (variant, seed, frame kind) gets a row; the
    table and sentence read those rows."""
    import json
    import shutil
    from objprop.book import main
    data = tmp_path / "toy"
    shutil.copytree(toyvis_small, data)
    tried = {"as the book trains it": {},
             "mask loss weight 5": {"model.prop_head.loss_prop_mask.loss_weight": 5.0}}
    rows = variants.branch_variant_study(
        "configs/objprop_r18_fpn_toy.py", tried, seeds=[0], data_root=str(data),
        work_root=tmp_path / "work", max_iters=2, log=lambda line: None)
    assert {(r["variant"], r["seed"]) for r in rows} == {(v, 0) for v in tried}
    assert all(0 <= r["iou"] <= 1 and r["n"] > 0 for r in rows)
    trained = tmp_path / "work" / "variants" / "mask_loss_weight_5" / "objprop_r18_fpn_toy"
    summary = json.loads((trained / "seed0" / "train_summary.json").read_text())
    assert summary["request"]["cfg_options"] == {"model.prop_head.loss_prop_mask.loss_weight": 5.0}
    assert (tmp_path / "work" / "objprop_r18_fpn_toy" / "seed0" / "latest.pth").exists()
    table = show.branch_variants_table(rows)
    assert table.count("| mask loss weight 5 |") == len({r["frames"] for r in rows})
    assert "*mask loss weight 5*" in show.branch_variants_sentence(rows)
    # a missing data folder is one line, exit 2, and no results file
    assert main(["variants", "--data", str(tmp_path / "none"), "--results",
                 str(tmp_path / "res"), "--seeds", "0", "--max-iters", "1"]) == 2
    assert not (tmp_path / "res").exists()
