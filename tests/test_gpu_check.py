"""The GPU check (`objprop doctor --check-gpu`, `make gpu-check`): what can be tested without a
GPU — the refusal, and the frame-by-frame comparison it decides with; and its paper part
(`--check-gpu-paper`, `make gpu-check-paper`): its refusal, its arithmetic, and its whole GPU
path run on the CPU at a tiny size."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from objprop.errors import ObjPropError
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


# ------------------------------------------------------------------ the paper's setting

def test_busy_time_counts_overlapping_intervals_once():
    from objprop.training.profile import busy_time
    assert busy_time([]) == 0.0
    assert busy_time([(5, 6), (0, 2), (1, 3)]) == 4          # [0, 3] and [5, 6]
    assert busy_time([(0, 10), (2, 3), (4, 5)]) == 10        # nested


def test_steady_stats_leave_out_the_warm_up():
    from objprop.gpu_check_paper import steady_stats
    entries = [dict(global_iter=i, time=t, data_time=d, memory=m)
               for i, t, d, m in ((1, 9.0, 5.0, 100), (2, 1.0, 0.1, 300), (3, 3.0, 0.3, 200))]
    s = steady_stats(entries, warmup=1, samples_per_gpu=6)
    assert s["iters"] == 2 and s["s_per_iter"] == 2.0          # iteration 1 left out
    assert s["data_time_share"] == pytest.approx(0.1)          # 0.4 s of 4 s
    assert s["images_per_s"] == 3.0 and s["frames_per_s"] == 6.0
    assert s["peak_memory_mib"] == 300                         # the whole run's peak
    with pytest.raises(ObjPropError):
        steady_stats(entries, warmup=3, samples_per_gpu=6)


def test_extrapolation_takes_the_papers_schedule_and_ytvis_size():
    from objprop import paper
    from objprop.gpu_check_paper import extrapolate
    x = extrapolate(0.5, 6)
    assert (x["gpus"], x["epochs"], x["batch"]) == (paper.TRAINING["gpus"],
                                                     paper.TRAINING["epochs"], 24)
    videos = paper.DATASETS["YouTube-VIS 2019"]["train_videos"]
    assert x["frames"] == [videos * n for n in paper.YTVIS_ANNOTATED_FRAMES_PER_VIDEO]
    lo_iters = -(-x["frames"][0] // 24)                         # whole batches an epoch
    assert x["hours"][0] == round(12 * lo_iters * 0.5 / 3600, 2)
    assert x["hours"][0] < x["hours"][1]
    assert extrapolate(1.0, 6)["hours"][1] == pytest.approx(2 * x["hours"][1], abs=0.01)


def test_ddp_losses_are_judged_by_the_devices_own_repeatability():
    from objprop.gpu_check_paper import compare_losses
    single, again = [3.0, 2.5, 2.0], [3.0, 2.5001, 2.0002]
    assert compare_losses(single, again, [3.0, 2.5001, 2.0003])["ok"]       # within 2x
    out = compare_losses(single, again, [3.0, 2.6, 2.1])
    assert not out["ok"] and out["ddp_max_diff"] == pytest.approx(0.0999)
    exact = compare_losses(single, single, list(single))                    # a CPU: exact
    assert exact["ok"] and exact["first_iter_equal"] and exact["repeat_max_diff"] == 0
    assert not compare_losses(single, single, [3.0, 2.5, 2.0001])["ok"]
    assert not compare_losses([], [], [])["ok"]


def test_paper_sentence_says_not_measured_until_the_paper_part_is_there():
    from objprop.present.readme import gpu_check_sentence, paper_gpu_sentence
    assert "not measured yet" in paper_gpu_sentence(None)
    toy = dict(date="d", environment=dict(gpus=["H"], torch="2"), methods=[dict(
        method="ObjProp", gpu_s_per_iter=0.1, cpu_s_per_iter=0.4, min_iou=1.0)])
    assert "(`make gpu-check-paper`: the R50-FPN configs through papermill): not measured " \
        "yet" in gpu_check_sentence(toy)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_paper_check_refuses_in_one_line_without_a_gpu(tmp_path):
    run = subprocess.run([sys.executable, "-m", "objprop.cli", "doctor", "--check-gpu-paper",
                          "--json", str(tmp_path / "g.json")],
                         capture_output=True, text=True, cwd=tmp_path.parent)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--check-gpu-paper: no CUDA GPU visible" in lines[0], run.stderr
    assert not (tmp_path / "g.json").exists()


def test_the_paper_check_runs_its_gpu_path_on_the_cpu_at_a_tiny_size(tmp_path):
    """The GPU check's paper part with device="cpu" at CPU_TWIN's size: the R50-FPN paper
    configs through book/train.md by papermill (two CPU iterations after one of warm-up),
    from a COCO-layout checkpoint whose class layers the loader re-sizes, online inference
    over two videos, the DDP path (torchrun, gloo, a world of one) against the single
    process, and the profiles; the toy part of the JSON is kept."""
    import json

    from objprop.checkpoint import CLASS_DEPENDENT
    from objprop.gpu_check_paper import CPU_TWIN, check_gpu_paper, extrapolate
    from objprop.present.readme import gpu_check_sentence
    record = tmp_path / "gpu_check.json"
    toy = dict(date="d", ok=True, environment=dict(gpus=["H"], torch="2"), methods=[dict(
        method="ObjProp", gpu_s_per_iter=0.1, cpu_s_per_iter=0.4, min_iou=1.0)])
    record.write_text(json.dumps(toy))
    lines = []
    part = check_gpu_paper(device="cpu", size=CPU_TWIN, record=str(record), log=lines.append)
    saved = json.loads(record.read_text())
    assert saved["methods"] == toy["methods"]                            # toy part kept
    assert saved["paper"] == json.loads(json.dumps(part))
    assert part["complete"] and part["device"] == "cpu"
    assert [m["role"] for m in part["methods"]] == ["baseline", "objprop"]
    for m in part["methods"]:
        assert m["via"] == "papermill book/train.md" and "r50_fpn" in m["config"]
        assert m["iters"] == CPU_TWIN.iters and m["warmup"] == CPU_TWIN.warmup
        assert m["samples_per_gpu"] == CPU_TWIN.samples_per_gpu
        assert 0 <= m["data_time_share"] <= 1 and m["peak_memory_mib"] is None
        assert m["images_per_s"] == pytest.approx(1 / m["s_per_iter"], rel=0.01)
        assert m["extrapolated"] == extrapolate(m["s_per_iter"], 1)
        # the COCO loader ran: 81-class layers re-sized to ToyVIS's 5 + background
        assert all(k in m["coco_init"] for k in CLASS_DEPENDENT), m["coco_init"]
        inf = m["inference"]
        assert inf["videos"] == 2 and inf["frames"] == 2 * CPU_TWIN.frames and inf["fps"] > 0
    assert any("papermill" in line for line in lines)
    ddp = part["ddp"]
    assert ddp["backend"] == "gloo" and ddp["iters"] == CPU_TWIN.check_iters and ddp["ok"]
    assert ddp["first_iter_equal"] and ddp["ddp_max_diff"] == 0   # gloo, one process: exact
    for name in ("paper", "toy"):
        p = part["profile"][name]
        assert p["iters"] == CPU_TWIN.profile_iters and p["device"] == "cpu"
        assert p["gpu_busy_share"] is None and p["top_ops"] and p["wall_s"] > 0
    assert "ObjProp" in gpu_check_sentence(saved) and "gloo" in gpu_check_sentence(saved)
