"""The GPU check (`objprop doctor --check-gpu`, `make gpu-check`): what can be tested without a
GPU — the refusal, and the frame-by-frame comparison it decides with."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from objprop.gpu_check import agreement, compare_frames


def _frame(ids, boxes, h=20, w=30, scores=None):
    masks = np.zeros((len(ids), h, w), bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = True
    return dict(track_ids=list(ids), masks=masks,
                scores=np.array(scores if scores is not None else [0.9] * len(ids)))


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


def test_compare_frames_accepts_tracks_named_differently_but_not_swapped():
    """Ids are names in order of creation: a run that created one more track earlier names
    the later ones differently. The same tracks means a correspondence that holds."""
    a = {(0, 0): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)]),
         (0, 1): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)])}
    renamed = {(0, 0): _frame([1, 3], [(0, 0, 10, 10), (12, 5, 20, 15)]),
               (0, 1): _frame([1, 3], [(0, 0, 10, 10), (12, 5, 20, 15)])}
    assert compare_frames(a, renamed)["problems"] == []
    swapped = {(0, 0): _frame([1, 3], [(0, 0, 10, 10), (12, 5, 20, 15)]),
               (0, 1): _frame([3, 1], [(0, 0, 10, 10), (12, 5, 20, 15)])}
    text = "\n".join(compare_frames(a, swapped, names=("GPU", "CPU"))["problems"])
    assert "video 0 frame 1: GPU track 1 pairs with CPU track 3, earlier with 1" in text


def test_compare_frames_reports_small_overlap_lone_instances_and_missing_frames():
    a = {(0, 0): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)]),
         (0, 1): _frame([1], [(0, 0, 10, 10)]),
         (0, 2): _frame([], [])}
    b = {(0, 0): _frame([1], [(0, 0, 10, 10)]),                     # track 2 only on a
         (0, 1): _frame([1], [(0, 0, 10, 9)])}                       # IoU 0.9
    out = compare_frames(a, b, min_iou=0.99, score_thr=0.05, names=("GPU", "CPU"))
    text = "\n".join(out["problems"])
    assert "different frames" in text and "(0, 2)" in text
    assert "video 0 frame 0: track 2 only on the GPU run (score 0.900)" in text
    assert "video 0 frame 1 GPU track 1: mask IoU 0.900 < 0.99" in text
    assert len(out["problems"]) == 3 and out["borderline"] == 0


def test_a_lone_instance_at_the_score_threshold_is_borderline_not_a_failure():
    a = {(0, 0): _frame([1, 2], [(0, 0, 10, 10), (12, 5, 20, 15)], scores=[0.9, 0.052])}
    b = {(0, 0): _frame([1], [(0, 0, 10, 10)], scores=[0.9])}
    out = compare_frames(a, b, score_thr=0.05)
    assert out["problems"] == [] and out["borderline"] == 1 and out["instances"] == 1
    assert compare_frames(a, b, score_thr=0.05, margin=0.001)["problems"]   # outside it


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


def test_the_fp32_switch_restores_torch_defaults():
    """The comparison turns TF32 off for the GPU's inference and leaves torch's switches as
    they were afterwards, also when the inference raises."""
    from objprop.gpu_check import _tf32
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with pytest.raises(RuntimeError):
        with _tf32(not before[0]):
            assert torch.backends.cudnn.allow_tf32 is (not before[0])
            assert torch.backends.cuda.matmul.allow_tf32 is (not before[0])
            raise RuntimeError("inference failed")
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
