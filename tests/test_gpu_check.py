"""The GPU check (`objprop doctor --check-gpu`, `make gpu-check`): what can be tested without a
GPU — the refusal, and the frame-by-frame comparison it decides with."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from objprop.gpu_check import agreement, compare_frames


def _frame(ids, boxes, h=20, w=30):
    masks = np.zeros((len(ids), h, w), bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = True
    return dict(track_ids=list(ids), masks=masks)


def test_agreement_is_the_mask_iou_and_one_when_both_are_empty():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert agreement(a, b) == 1.0            # both empty
    a[:2] = True
    b[1:3] = True
    assert agreement(a, b) == pytest.approx(1 / 3)


def test_compare_frames_accepts_the_same_frames_in_another_instance_order():
    a = {(0, 0): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)]),
         (0, 1): _frame([1], [(1, 0, 11, 10)])}
    b = {(0, 0): _frame([2, 1], [(12, 5, 20, 15), (0, 0, 10, 10)]),
         (0, 1): _frame([1], [(1, 0, 11, 10)])}
    out = compare_frames(a, b)
    assert out["problems"] == [] and out["instances"] == 3 and out["min_iou"] == 1.0


def test_compare_frames_reports_other_ids_small_overlap_and_missing_frames():
    a = {(0, 0): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)]),
         (0, 1): _frame([1], [(0, 0, 10, 10)]),
         (0, 2): _frame([], [])}
    b = {(0, 0): _frame([1, 3], [(0, 0, 10, 10), (12, 5, 20, 15)]),
         (0, 1): _frame([1], [(0, 0, 10, 9)])}            # IoU 0.9
    out = compare_frames(a, b, min_iou=0.99)
    text = "\n".join(out["problems"])
    assert "different frames" in text and "(0, 2)" in text
    assert "track ids [1, 2] vs [1, 3]" in text
    assert "track 1: mask IoU 0.900" in text
    assert len(out["problems"]) == 3


def test_the_check_runs_inference_through_the_real_online_path(toyvis_small):
    """Two CPU runs of one model agree with themselves (the comparison is not vacuous: the
    untrained toy model's low thresholds give it instances to compare)."""
    from objprop.config import load_config
    from objprop.gpu_check import _frames_on
    from objprop.inference import build_model, build_test_dataset
    torch.manual_seed(0)
    cfg = load_config("configs/masktrack_rcnn_r18_fpn_toy.py", data_root=str(toyvis_small),
                      test_split="valid",
                      cfg_options={"model.test_cfg.rcnn.score_thr": 0.0})
    model = build_model(cfg)
    dataset = build_test_dataset(cfg)
    ids = [dataset.vid_infos[0]["id"]]
    a = _frames_on(model, dataset, "cpu", ids)
    b = _frames_on(model, dataset, "cpu", ids)
    out = compare_frames(a, b)
    assert out["frames"] == dataset.vid_infos[0]["length"]
    assert out["instances"] > 0 and out["problems"] == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_gpu_check_refuses_in_one_line_without_a_gpu(tmp_path):
    run = subprocess.run([sys.executable, "-m", "objprop.cli", "doctor", "--check-gpu"],
                         capture_output=True, text=True, cwd=tmp_path.parent)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--check-gpu: no CUDA GPU visible" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
