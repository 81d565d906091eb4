"""Every bad input the `objprop` CLI can be handed is refused the same way: exit status 2,
exactly one line on stderr naming the file (or flag) and the problem, and no output file.

Each case drives the real entry point (``objprop.cli.main``) in-process. The checkpoint
cases build the toy model once per module; none of them reaches inference.
"""
import copy
import json
import math

import numpy as np
import pytest
import torch

from objprop.cli import main
from objprop.data.ytvis import load_ytvis
from tests.model_utils import CONFIGS, toy_model


def refused(capsys, argv, *words):
    """Run the CLI; assert status 2 and one stderr line holding every one of ``words``."""
    capsys.readouterr()                        # drop whatever fixtures printed
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"objprop {argv[0]}: error: "), lines[0]
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    return lines[0]


# ------------------------------------------------------------------ results and ground truth

@pytest.fixture(scope="module")
def gt_path(toyvis_small):
    return toyvis_small / "annotations" / "instances_valid.json"


@pytest.fixture(scope="module")
def good_results(gt_path):
    """The ground truth as results (scores 0.9): a file that scores AP 1."""
    gt = load_ytvis(gt_path)
    return [dict(video_id=a["video_id"], category_id=a["category_id"], score=0.9,
                 segmentations=copy.deepcopy(a["segmentations"]))
            for a in gt["annotations"]]


def _first_mask(r):
    return next(f for f, s in enumerate(r["segmentations"]) if s is not None)


def _set_segm(r, make):
    f = _first_mask(r)
    r["segmentations"][f] = make(r["segmentations"][f])


def _half_counts(s):
    """A compressed RLE cut mid-string, ending on a continuation character: pycocotools'
    decoder hangs on it (or reads past the string) instead of failing."""
    counts = s["counts"]
    cut = next(i for i in range(len(counts) // 2, len(counts))
               if (ord(counts[i - 1]) - 48) & 0x20)
    return dict(size=s["size"], counts=counts[:cut])


RESULT_CASES = {
    # non-finite / non-number scores (JSON NaN and Infinity parse in Python)
    "nan score": (lambda r: r.update(score=math.nan), "'score' is not finite (nan)"),
    "inf score": (lambda r: r.update(score=math.inf), "'score' is not finite (inf)"),
    "-inf score": (lambda r: r.update(score=-math.inf), "'score' is not finite (-inf)"),
    "400-digit score": (lambda r: r.update(score=10 ** 400),   # beyond any float
                        "'score' is not finite (1000000000000000000000000000000000000..."),
    "negative score": (lambda r: r.update(score=-0.5), "'score' is negative (-0.5)"),
    "string score": (lambda r: r.update(score="0.9"), "'score' is not a number (\"0.9\")"),
    "boolean score": (lambda r: r.update(score=True), "'score' is not a number (true)"),
    "null score": (lambda r: r.update(score=None), "'score' is not a number (null)"),
    # RLEs that do not decode, or decode to another size
    "garbage counts": (lambda r: _set_segm(r, lambda s: dict(s, counts="~~ not RLE ~~")),
                       "characters outside pycocotools' alphabet"),
    "truncated counts": (lambda r: _set_segm(r, _half_counts),
                         "end in the middle of a run (truncated string)"),
    "counts too long": (lambda r: _set_segm(r, lambda s: dict(s, counts=s["counts"] + "5")),
                        "RLE counts cover"),
    "empty counts": (lambda r: _set_segm(r, lambda s: dict(s, counts="")),
                     "RLE counts are empty"),
    "run too long": (lambda r: _set_segm(r, lambda s: dict(s, counts="o" * 9 + "0")),
                     "a run too long for any frame"),
    "RLE size": (lambda r: _set_segm(r, lambda s: dict(s, size=[s["size"][0] + 1,
                                                                s["size"][1]])),
                 "is not the video's [64, 96]"),
    "RLE size not numbers": (lambda r: _set_segm(r, lambda s: dict(s, size=["a", 3])),
                             "RLE size [\"a\", 3] is not two integers"),
    "uncompressed counts short": (lambda r: _set_segm(r, lambda s: dict(s, counts=[1, 2])),
                                  "RLE counts cover 3 pixels, not the frame's 6144"),
    "uncompressed counts negative": (
        lambda r: _set_segm(r, lambda s: dict(s, counts=[-5, 6149])),
        "RLE counts are not non-negative integers"),
    # segmentations of the wrong shape or kind
    "too few frames": (lambda r: r["segmentations"].pop(), "has 5 segmentations but video"),
    "not a mask": (lambda r: _set_segm(r, lambda s: 42),
                   "segmentation is neither RLE, polygons nor null"),
    "NaN polygon": (lambda r: _set_segm(r, lambda s: [[1.0, 2.0, math.nan, 4, 5, 6]]),
                    "polygon coordinate NaN is not a finite number"),
    "400-digit polygon": (lambda r: _set_segm(r, lambda s: [[0, 0, 10 ** 400, 0, 5, 5]]),
                          "polygon coordinate 1000000000000000000000000000000000000..."),
    "far polygon": (lambda r: _set_segm(r, lambda s: [[0, 0, 1e9, 0, 5, 5]]),
                    "polygon coordinate 1000000000.0 is not a finite number near the frame"),
    # ids the ground truth does not define
    "unknown video": (lambda r: r.update(video_id=999), "unknown video_id 999"),
    "boolean video id": (lambda r: r.update(video_id=True), "unknown video_id true"),
    "float video id": (lambda r: r.update(video_id=1.0), "unknown video_id 1.0"),
    "unknown category": (lambda r: r.update(category_id=77), "unknown category_id 77"),
    "missing key": (lambda r: r.pop("segmentations"), "lacks segmentations"),
    "filled wrong length": (lambda r: r.update(filled=[True]),
                            "'filled' is not one true/false per frame (6)"),
}


@pytest.mark.parametrize("case", list(RESULT_CASES))
def test_evaluate_refuses_bad_results(case, gt_path, good_results, tmp_path, capsys):
    mutate, problem = RESULT_CASES[case]
    results = copy.deepcopy(good_results)
    mutate(results[0])
    res = tmp_path / "bad_results.json"
    res.write_text(json.dumps(results))            # NaN / Infinity as Python writes them
    out = tmp_path / "out" / "metrics.json"
    refused(capsys, ["evaluate", "--gt", gt_path, "--results", res, "--out", out],
            f"{res}: result 0", problem)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_good_results_still_score(gt_path, good_results, tmp_path, capsys):
    res = tmp_path / "results.json"
    res.write_text(json.dumps(good_results))
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--gt", str(gt_path), "--results", str(res),
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["AP"] == pytest.approx(1)


@pytest.mark.parametrize("raw, problem", [
    ("", "malformed JSON"),
    ('[{"video_id": 1, "score": 0.9', "malformed JSON"),
    ('{"results": []}', "a results file is a JSON list"),
])
def test_evaluate_refuses_unparsable_results(raw, problem, gt_path, tmp_path, capsys):
    res = tmp_path / "bad_results.json"
    res.write_text(raw)
    out = tmp_path / "metrics.json"
    refused(capsys, ["evaluate", "--gt", gt_path, "--results", res, "--out", out],
            res, problem)
    assert list(tmp_path.iterdir()) == [res]


GT_CASES = {
    "NaN area": (lambda a: a["areas"].__setitem__(_first_mask(a), math.nan), "bad 'areas'"),
    "corrupt RLE": (lambda a: _set_segm(a, lambda s: dict(s, counts=s["counts"][:-1] + "~")),
                    "characters outside pycocotools' alphabet"),
    "boolean category": (lambda a: a.update(category_id=True), "unknown category_id true"),
}


@pytest.mark.parametrize("case", list(GT_CASES))
def test_evaluate_refuses_bad_ground_truth(case, gt_path, good_results, tmp_path, capsys):
    mutate, problem = GT_CASES[case]
    gt = json.loads(gt_path.read_text())
    mutate(gt["annotations"][0])
    bad_gt = tmp_path / "bad_gt.json"
    bad_gt.write_text(json.dumps(gt))
    res = tmp_path / "results.json"
    res.write_text(json.dumps(good_results))
    out = tmp_path / "metrics.json"
    refused(capsys, ["evaluate", "--gt", bad_gt, "--results", res, "--out", out],
            f"{bad_gt}: annotation {gt['annotations'][0]['id']}", problem)
    assert not out.exists()


# ------------------------------------------------------------------ checkpoints

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A good toy MaskTrack R-CNN checkpoint and the bad files made from it."""
    root = tmp_path_factory.mktemp("bad_ckpt")
    model, _ = toy_model("masktrack")
    state = model.state_dict()
    good = root / "good.pth"
    torch.save({"state_dict": state, "meta": {}}, good)
    data = good.read_bytes()
    files = dict(good=good)
    files["empty"] = root / "empty.pth"
    files["empty"].write_bytes(b"")
    files["truncated"] = root / "truncated.pth"
    files["truncated"].write_bytes(data[:len(data) // 2])
    files["json"] = root / "json.pth"
    files["json"].write_text(json.dumps({"state_dict": {"a": [1, 2]}}))
    files["random"] = root / "random.pth"
    files["random"].write_bytes(np.random.default_rng(0).integers(
        0, 256, 4096, dtype=np.uint8).tobytes())
    files["legacy_truncated"] = root / "legacy_truncated.pth"
    torch.save({"state_dict": {"a": torch.zeros(1000)}}, files["legacy_truncated"],
               _use_new_zipfile_serialization=False)
    files["legacy_truncated"].write_bytes(files["legacy_truncated"].read_bytes()[:300])
    files["foreign"] = root / "foreign.pth"
    torch.save({"state_dict": {"encoder.layer0.weight": torch.zeros(3, 3)}, "meta": {}},
               files["foreign"])
    files["shapes"] = root / "shapes.pth"
    key = "roi_head.bbox_head.fc_cls.weight"
    torch.save({"state_dict": dict(state, **{key: torch.zeros(3, state[key].shape[1])})},
               files["shapes"])
    files["no_tensors"] = root / "no_tensors.pth"
    torch.save([1, 2, 3], files["no_tensors"])
    return files


CHECKPOINT_CASES = {
    "empty": "not a readable PyTorch checkpoint (the file is empty)",
    "truncated": "not a readable PyTorch checkpoint (truncated or corrupt zip archive",
    "json": "not a readable PyTorch checkpoint (neither the zip archive nor the pickle",
    "random": "not a readable PyTorch checkpoint (neither the zip archive nor the pickle",
    "legacy_truncated": "not a readable PyTorch checkpoint (",
    "foreign": "checkpoint shares no weights with the model",
    "shapes": "checkpoint does not fit the model: 1 tensors have other shapes "
              "(e.g. roi_head.bbox_head.fc_cls.weight: [3,",
    "no_tensors": "no state_dict in checkpoint",
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_test_refuses_bad_checkpoints(case, checkpoints, toyvis_small, tmp_path, capsys):
    out = tmp_path / "results.json"
    refused(capsys, ["test", "--config", CONFIGS["masktrack"], "--checkpoint",
                     checkpoints[case], "--data", toyvis_small, "--split", "valid",
                     "--out", out], f"{checkpoints[case]}: ", CHECKPOINT_CASES[case])
    assert list(tmp_path.iterdir()) == []


def test_oracle_refuses_a_truncated_checkpoint(checkpoints, toyvis_small, tmp_path, capsys):
    out = tmp_path / "oracle"
    refused(capsys, ["oracle", "--config", CONFIGS["masktrack"], "--checkpoint",
                     checkpoints["truncated"], "--data", toyvis_small, "--out", out],
            f"{checkpoints['truncated']}: ", CHECKPOINT_CASES["truncated"])
    assert not out.exists()


def test_good_checkpoint_loads(checkpoints):
    from objprop.checkpoint import load_model_checkpoint
    model, _ = toy_model("masktrack", seed=1)
    load_model_checkpoint(model, checkpoints["good"])
    saved = torch.load(checkpoints["good"], weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ GPUs asked for, none here

@pytest.fixture
def no_gpu(monkeypatch):
    """The same answer on every machine: torch sees no CUDA GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_test_refuses_cuda_without_a_gpu(device, no_gpu, checkpoints, toyvis_small,
                                         tmp_path, capsys):
    out = tmp_path / "results.json"
    refused(capsys, ["test", "--config", CONFIGS["masktrack"], "--checkpoint",
                     checkpoints["good"], "--data", toyvis_small, "--out", out,
                     "--device", device], f"--device {device}: no CUDA GPU visible")
    assert list(tmp_path.iterdir()) == []


def test_test_refuses_an_unknown_device(checkpoints, toyvis_small, tmp_path, capsys):
    out = tmp_path / "results.json"
    refused(capsys, ["test", "--config", CONFIGS["masktrack"], "--checkpoint",
                     checkpoints["good"], "--data", toyvis_small, "--out", out,
                     "--device", "gpu"], "--device gpu: not a torch device")
    assert list(tmp_path.iterdir()) == []


def test_oracle_refuses_cuda_without_a_gpu(no_gpu, checkpoints, toyvis_small, tmp_path,
                                           capsys):
    out = tmp_path / "oracle"
    refused(capsys, ["oracle", "--config", CONFIGS["masktrack"], "--checkpoint",
                     checkpoints["good"], "--data", toyvis_small, "--out", out,
                     "--device", "cuda"], "--device cuda: no CUDA GPU visible")
    assert not out.exists()


def test_train_refuses_gpus_without_a_gpu(no_gpu, toyvis_small, tmp_path, capsys):
    work_dir = tmp_path / "work"
    refused(capsys, ["train", "--config", CONFIGS["masktrack"], "--data", toyvis_small,
                     "--gpus", 1, "--work-dir", work_dir, "--max-iters", 1],
            "--gpus 1: no CUDA GPU visible")
    assert not work_dir.exists()


@pytest.mark.parametrize("argv, flag", [
    (["oracle", "--max-videos", "-1"], "--max-videos"),   # would slice a video off the end
    (["oracle", "--match-iou", "1.5"], "--match-iou"),
    (["demo", "--input", "clip.mp4", "--score-thr", "2"], "--score-thr"),  # shows nothing
    (["demo", "--input", "clip.mp4", "--score-thr", "nan"], "--score-thr"),
])
def test_counts_and_thresholds_out_of_range_are_refused(argv, flag, tmp_path, capsys):
    out = tmp_path / "out"
    command, *rest = argv
    with pytest.raises(SystemExit) as exc:
        main([command, "--config", CONFIGS["masktrack"], "--checkpoint", "k.pth",
              "--out", str(out), *rest])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"objprop {command}: error: argument {flag}"), last
    assert not out.exists()


@pytest.mark.parametrize("text, words", [
    ("model = dict(\n", ["cannot load config", "was never closed"]),   # syntax error
    ("_base_ = ['nothere.py']\n", ["cannot load config", "nothere.py"]),
    ("model = dict(type=undefined_name)\n", ["cannot load config", "undefined_name"]),
    ("x = 1\n", ["not a detector config", "no model or data"]),
])
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_broken_config_is_one_line(text, words, checkpoints, toyvis_small, tmp_path,
                                     capsys):
    config = tmp_path / "broken.py"
    config.write_text(text)
    out = tmp_path / "results.json"
    # exactly one line: mmcv's temporary copy must not add an "Exception ignored" report
    refused(capsys, ["test", "--config", config, "--checkpoint", checkpoints["good"],
                     "--data", toyvis_small, "--out", out], "broken.py", *words)
    assert not out.exists()
