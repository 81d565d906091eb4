"""The oracle study (Table 1): each oracle changes exactly what it should, all four give
100 mAP, the rows are cumulative, the table and the command line."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from objprop import paper
from objprop.config import load_config
from objprop.errors import ObjPropError
from objprop.inference import build_model, build_test_dataset, run_inference
from objprop.present import oracle as show
from objprop.studies import oracle
from tests.model_utils import CONFIGS

# a random model scores every class near 1/6: keep every detection so there are some; and
# run the 64x96 frames at their own size (the toy configs upscale them to 288x160)
DETECT_ALL = {"model.test_cfg.rcnn.score_thr": 0.0, "data.test.pipeline.1.img_scale": (96, 64)}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Randomly initialised weights of both toy models, saved as checkpoints."""
    root = tmp_path_factory.mktemp("oracle_ckpt")
    out = {}
    for kind, config in CONFIGS.items():
        torch.manual_seed(0)
        model = build_model(load_config(config))
        out[kind] = root / f"{kind}.pth"
        torch.save({"state_dict": model.state_dict(), "meta": {}}, out[kind])
    return out


@pytest.fixture(scope="module")
def masktrack_run(toyvis_small, checkpoints):
    """MaskTrack R-CNN and the valid split, and a function running it with some oracles
    over the first video that returns every frame's output keyed by (video index, frame
    index)."""
    # each oracle must change only its own part of every detection; MaskTrack R-CNN's rule
    # drops a detection that loses its track to a better one, and which one loses depends
    # on the boxes: these per-detection checks run the tracker that keeps every detection
    keep_all = dict(DETECT_ALL, **{"model.test_cfg.track.type": "GreedyTracker"})
    cfg = load_config(CONFIGS["masktrack"], data_root=toyvis_small, cfg_options=keep_all)
    model = build_model(cfg, checkpoints["masktrack"])
    dataset = build_test_dataset(cfg)
    first_video = [dataset.vid_infos[0]["id"]]

    def run(oracles=(), match_iou=0.5):
        outs = {}
        run_inference(model, dataset, oracle.OracleHookFactory(oracles, match_iou),
                      progress=False,
                      on_frame=lambda vi, fi, out: outs.__setitem__((vi, fi), out),
                      video_ids=first_video)
        return outs
    return dataset, run


@pytest.fixture(scope="module")
def baseline(masktrack_run):
    return masktrack_run[1]()


def _iou(a, b):
    from mmdet.core import bbox_overlaps
    return bbox_overlaps(torch.as_tensor(a), torch.as_tensor(b)).numpy()


# ----------------------------------------------------------------- the hook alone

def _frame_gt():
    masks = np.zeros((2, 20, 30), bool)
    masks[0, 2:8, 2:10] = True
    masks[1, 10:18, 15:28] = True
    return dict(bboxes=np.array([[2, 2, 10, 8], [15, 10, 28, 18]], np.float32),
                labels=np.array([3, 1]), masks=masks, ids=np.array([11, 12]))


def _apply(hook, boxes, scores, labels):
    meta = dict(video_id=1, frame_id=0)
    b, s, lab = hook.detections(meta, torch.tensor(boxes, dtype=torch.float32),
                                torch.tensor(scores), torch.tensor(labels))
    masks = hook.masks(meta, b, lab, np.zeros((len(b), 20, 30), bool))
    return b, s, lab, masks, hook.track_ids(meta, b, lab, masks)


def test_hook_box_snaps_keeps_misses_and_duplicates():
    dets = [[3, 3, 9, 9], [4, 2, 11, 7], [0, 0, 1, 1], [16, 11, 27, 19]]
    b, s, lab, _, ids = _apply(oracle.OracleHook(_frame_gt, ["box"]), dets,
                               [0.9, 0.8, 0.7, 0.6], [0, 1, 2, 3])
    gt = _frame_gt()["bboxes"]
    assert np.array_equal(b.numpy(), [gt[0], gt[0], [0, 0, 1, 1], gt[1]])  # dup kept
    assert s.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6]) and lab.tolist() == [0, 1, 2, 3]
    assert ids is None


def test_hook_track_ids_are_one_to_one_with_fresh_ids_that_never_collide():
    fresh = iter(range(100, 200)).__next__
    dets = [[3, 3, 9, 9], [4, 2, 11, 7], [0, 0, 1, 1], [16, 11, 27, 19]]
    _, _, _, masks, ids = _apply(oracle.OracleHook(_frame_gt, ["box", "mask", "track"],
                                                   fresh_id=fresh),
                                 dets, [0.8, 0.9, 0.7, 0.6], [0, 1, 2, 3])
    assert ids == [100, 11, 101, 12]  # the higher score takes GT 11; the duplicate is fresh
    gt = _frame_gt()["masks"]
    assert (masks[0] == gt[0]).all() and (masks[1] == gt[0]).all() and not masks[2].any()


def test_hook_class_gives_exactly_the_gt():
    b, s, lab, masks, ids = _apply(oracle.OracleHook(_frame_gt, ["class", "mask", "track"]),
                                   [[0, 0, 5, 5]], [0.3], [4])
    gt = _frame_gt()
    assert np.array_equal(b.numpy(), gt["bboxes"]) and s.tolist() == [1.0, 1.0]
    assert lab.tolist() == [3, 1] and ids == [11, 12] and (masks == gt["masks"]).all()
    assert oracle.normalize_oracles("class") == ("box", "class")
    with pytest.raises(ObjPropError):
        oracle.normalize_oracles("box,colour")


# ----------------------------------------------------------------- on the model

@pytest.mark.parametrize("kind", ["masktrack", "objprop"])
def test_all_four_oracles_score_100_map(kind, toyvis_small, checkpoints, tmp_path):
    rows = [("+ track", ("box", "class", "mask", "track"))]
    table = oracle.run_oracle_study(CONFIGS[kind], checkpoints[kind], toyvis_small,
                                    out_dir=tmp_path, rows=rows, progress=False,
                                    cfg_options=DETECT_ALL)
    row = table["rows"][0]
    assert row["AP"] == 100.0
    assert row["max_fill"] == (0 if kind == "objprop" else None)


def _same(a, b, keys):
    for k in keys:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def test_track_oracle_alone_changes_only_ids(masktrack_run, baseline):
    dataset, run = masktrack_run
    outs = run(("track",), match_iou=0.2)
    assert any(len(o["bboxes"]) for o in baseline.values())
    top_gt_id = max(a["id"] for anns in dataset.video_anns for a in anns)
    used_gt_ids = set()
    for key, base in baseline.items():
        _same(outs[key], base, ("bboxes", "scores", "labels", "masks"))
        ids, gt_ids = outs[key]["track_ids"], set(dataset.get_frame_ann(*key)["ids"].tolist())
        assert len(set(ids)) == len(ids)  # one detection per identity in a frame
        assert all(i in gt_ids or i > top_gt_id for i in ids)  # a GT id, or a fresh one
        used_gt_ids |= gt_ids & set(ids)
    assert used_gt_ids  # some detections did take their GT identity
    fresh = [i for o in outs.values() for i in o["track_ids"] if i > top_gt_id]
    assert len(fresh) == len(set(fresh))  # fresh ids never repeat, across frames either


def test_mask_oracle_alone_changes_only_masks(masktrack_run, baseline):
    dataset, run = masktrack_run
    match_iou = 0.2  # a random model's boxes rarely reach 0.5 IoU: more masks to check
    outs = run(("mask",), match_iou)
    replaced = 0
    for key, base in baseline.items():
        out, gt = outs[key], dataset.get_frame_ann(*key)
        _same(out, base, ("bboxes", "scores", "labels", "track_ids"))
        for k in range(len(out["bboxes"])):
            iou = _iou(out["bboxes"][k:k + 1], gt["bboxes"])
            if iou.size and iou.max() >= match_iou:
                assert (out["masks"][k] == gt["masks"][iou.argmax()]).all()
                replaced += 1
            else:
                assert (out["masks"][k] == base["masks"][k]).all()
    assert replaced >= 5


def test_box_oracle_alone_keeps_scores_and_labels(masktrack_run, baseline):
    dataset, run = masktrack_run
    outs = run(("box",))
    snapped = 0
    for key, base in baseline.items():
        out, gt = outs[key], dataset.get_frame_ann(*key)
        _same(out, base, ("scores", "labels"))
        for k, box in enumerate(base["bboxes"]):
            iou = _iou(box[None], gt["bboxes"])
            if iou.size and iou.max() > 0:
                assert np.array_equal(out["bboxes"][k], gt["bboxes"][iou.argmax()])
                snapped += 1
            else:
                assert np.array_equal(out["bboxes"][k], box)
    assert snapped >= 10


def test_class_oracle_alone_gives_gt_boxes_and_labels(masktrack_run, baseline):
    dataset, run = masktrack_run
    outs = run(("class",))
    for key in baseline:
        out, gt = outs[key], dataset.get_frame_ann(*key)
        assert np.array_equal(out["bboxes"].reshape(-1, 4), gt["bboxes"])
        assert np.array_equal(out["labels"], gt["labels"]) and (out["scores"] == 1).all()


# ----------------------------------------------------------------- the table

def test_rows_are_cumulative_and_gains_are_differences(toyvis_small, checkpoints, tmp_path):
    names = [n for n, _ in oracle.ORACLE_ROWS]
    assert names == ["MaskTrack R-CNN", "+ box", "+ class", "+ mask", "+ track"]
    for (_, prev), (_, cur) in zip(oracle.ORACLE_ROWS, oracle.ORACLE_ROWS[1:]):
        assert set(prev) < set(cur)
    quoted = paper.TABLE1["rows"]  # the transcription is consistent with itself
    assert [r["name"] for r in quoted] == names and quoted[-1]["AP"] == 100.0
    for prev, cur in zip(quoted, quoted[1:]):
        assert cur["gain"] == pytest.approx(cur["AP"] - prev["AP"], abs=0.05)
    oracle.run_oracle_study(CONFIGS["masktrack"], checkpoints["masktrack"], toyvis_small,
                            out_dir=tmp_path, max_videos=1, progress=False,
                            cfg_options=DETECT_ALL)
    table = json.loads((tmp_path / "table1.json").read_text())
    rows = table["rows"]
    assert [r["name"] for r in rows] == names and table["units"] == "percent"
    assert rows[0]["gain"] is None
    for prev, cur in zip(rows, rows[1:]):
        assert set(prev["oracles"]) < set(cur["oracles"])
        assert cur["gain"] == pytest.approx(cur["AP"] - prev["AP"])
    assert rows[-1]["AP"] == 100.0 and len(table["video_ids"]) == 1
    for r in rows:
        assert isinstance(json.loads(Path(r["results"]).read_text()), list)
    md = show.table1_markdown(table)
    assert md.count("\n|") >= 6 and "85.3" in md
    assert "oracle" in show.limiting_component(table)
    import matplotlib
    matplotlib.use("Agg")
    assert show.plot_gains(table).axes


def test_cli_writes_table_and_reports_a_bad_checkpoint(toyvis_small, checkpoints, tmp_path,
                                                       capsys):
    from objprop.cli import main
    common = ["oracle", "--config", CONFIGS["masktrack"], "--data", str(toyvis_small),
              "--split", "valid", "--out", str(tmp_path / "out"), "--max-videos", "1",
              "--cfg-options", "model.test_cfg.rcnn.score_thr=0.0",
              "data.test.pipeline.1.img_scale=(96,64)"]
    assert main(common + ["--checkpoint", str(checkpoints["masktrack"]),
                          "--oracles", "class,mask,track"]) == 0
    table = json.loads((tmp_path / "out" / "table1.json").read_text())
    assert [r["oracles"] for r in table["rows"]] == [[], ["box", "class", "mask", "track"]]
    assert "| Row |" in capsys.readouterr().out
    assert main(common + ["--checkpoint", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.pth" in err and "checkpoint" in err


def test_oracle_on_one_frame_shows_what_each_row_replaces(toyvis_small, checkpoints):
    """The chapter's single frame: the class row outputs exactly the frame's ground-truth
    boxes and labels (score 1), the mask row its masks too; the figure has a panel per row
    and the ground truth."""
    from objprop.vis import read_frame
    cfg = load_config(CONFIGS["masktrack"], data_root=toyvis_small, cfg_options=DETECT_ALL)
    model, dataset = build_model(cfg, checkpoints["masktrack"]), build_test_dataset(cfg)
    outputs, gt = oracle.oracle_on_frame(model, dataset, 0, 1)
    rows = dict(outputs)
    assert list(rows) == [n for n, _ in oracle.ORACLE_ROWS]
    assert len(rows["MaskTrack R-CNN"]["scores"]) > 0   # a random model, every detection kept
    cls = rows["+ class"]
    order = np.argsort(cls["bboxes"][:, 0])
    assert np.allclose(cls["bboxes"][order], np.asarray(gt["bboxes"])[
        np.argsort(np.asarray(gt["bboxes"])[:, 0])])
    assert len(gt["labels"]) > 0 and len(cls["labels"]) == len(gt["labels"])
    assert (cls["scores"] == 1).all()
    assert sorted(m.sum() for m in rows["+ mask"]["masks"]) == sorted(m.sum() for m in gt["masks"])
    assert sorted(rows["+ track"]["track_ids"]) == sorted(int(i) for i in gt["ids"])
    frame = read_frame(Path(dataset.img_prefix) / dataset.vid_infos[0]["file_names"][1])
    fig = show.plot_oracle_frame(frame, outputs, gt, dataset.CLASSES)
    assert len(fig.axes) == len(outputs) + 1
