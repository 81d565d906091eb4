"""End to end through the command line, as a user runs it: `objprop train` a few iterations,
`objprop test` (online inference with overlays), then `objprop evaluate` on its output."""
import json
import os
import subprocess
import sys

from objprop.book import repo_root
from objprop.data.ytvis import load_results, load_ytvis

ROOT = repo_root()
SMALL = "data.train.pipeline.2.img_scale=(96,64)"


def objprop(*args):
    run = subprocess.run([sys.executable, "-m", "objprop.cli", *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run.stdout


def test_train_then_test_then_evaluate(toyvis_small, tmp_path):
    wd = tmp_path / "objprop"
    objprop("train", "--config", "configs/objprop_r18_fpn_toy.py", "--data", toyvis_small,
            "--max-iters", 2, "--work-dir", wd, "--cfg-options", SMALL)
    ckpt = json.loads((wd / "train_summary.json").read_text())["checkpoint"]
    results, shows = tmp_path / "results.json", tmp_path / "overlays"
    out = objprop("test", "--config", "configs/objprop_r18_fpn_toy.py", "--checkpoint", ckpt,
                  "--data", toyvis_small, "--split", "valid", "--out", results,
                  "--show", shows)
    assert "frames filled by propagation" in out
    gt_path = toyvis_small / "annotations" / "instances_valid.json"
    gt = load_ytvis(gt_path)
    tracks = load_results(results, gt)  # validates video ids, categories, track lengths
    assert all(len(t["filled"]) == len(t["segmentations"]) for t in tracks)
    pngs = sorted(shows.rglob("*.png"))
    assert len(pngs) == sum(v["length"] for v in gt["videos"])  # one overlay per frame
    # the same run as a server submission: a zip `objprop evaluate` reads back
    submission = tmp_path / "submission.zip"
    objprop("test", "--config", "configs/objprop_r18_fpn_toy.py", "--checkpoint", ckpt,
            "--data", toyvis_small, "--split", "valid", "--out", submission)
    assert submission.is_file() and (tmp_path / "submission.filled.json").is_file()
    zipped = json.loads(objprop("evaluate", "--gt", gt_path, "--results", submission,
                                "--out", tmp_path / "zip_metrics.json") and
                        (tmp_path / "zip_metrics.json").read_text())
    metrics_path = tmp_path / "metrics.json"
    table = objprop("evaluate", "--gt", gt_path, "--results", results, "--out", metrics_path)
    metrics = json.loads(metrics_path.read_text())
    assert {"AP", "AP50", "AR10"} <= set(metrics) and 0.0 <= metrics["AP"] <= 1.0
    assert "AP" in table
    assert zipped["AP"] == metrics["AP"]  # same model, same frames: the same results
    # a test-time variant without a config file: --cfg-options, as `objprop train` takes them
    none = tmp_path / "none.json"
    out = objprop("test", "--config", "configs/objprop_r18_fpn_toy.py", "--checkpoint", ckpt,
                  "--data", toyvis_small, "--split", "valid", "--out", none, "--cfg-options",
                  "model.test_cfg.rcnn.score_thr=1.01", "model.test_cfg.prop.max_fill=0")
    assert out.startswith("wrote 0 tracks") and json.loads(none.read_text()) == []
    bad = subprocess.run([sys.executable, "-m", "objprop.cli", "test", "--config",
                          "configs/objprop_r18_fpn_toy.py", "--checkpoint", ckpt, "--data",
                          toyvis_small, "--out", tmp_path / "x.json", "--cfg-options",
                          "model.test_cfg.rcnn.scor_thr=0.3"], cwd=ROOT, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "scor_thr" in bad.stderr.strip().splitlines()[-1]
    assert "Traceback" not in bad.stderr and not (tmp_path / "x.json").exists()
