"""`objprop doctor --check-gpu` (``make gpu-check``): the CUDA path, end to end, on one GPU.

For each toy method (MaskTrack R-CNN, ObjProp): train ``iters`` iterations on one GPU
(mmcv's CUDA ops), ``cpu_iters`` on the CPU for the time per iteration, then run the GPU
checkpoint online over two ToyVIS videos on the GPU and on the CPU and compare frame by frame:
the same track ids in the same frames, and every instance's mask with IoU >= ``min_iou``
between the two devices. Prints one table (s/iteration GPU vs CPU, frames, instances, the
smallest mask IoU) and fails (one line, exit 2) where the devices disagree; without a usable
GPU it refuses at once, in one line, before anything is built.
"""
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

from . import roles
from .errors import ObjPropError

METHODS = {r: roles.TOY_CONFIGS[r] for r in (roles.BASELINE, roles.OBJPROP)}


def agreement(a, b):
    """How far two devices' masks of one instance agree: their IoU, 1.0 when both are
    empty (both devices found nothing there)."""
    from .studies.branch import mask_iou
    return 1.0 if not (a.any() or b.any()) else mask_iou(a, b)


def compare_frames(frames_a, frames_b, min_iou=0.99):
    """Compare two runs' per-frame outputs (``{(video, frame): simple_test output}``).

    Returns ``dict(frames, instances, min_iou, problems)``: ``problems`` lists, one line
    each, every frame whose track ids differ and every instance whose masks overlap less
    than ``min_iou``."""
    problems, ious = [], []
    if set(frames_a) != set(frames_b):
        problems.append(f"different frames: {sorted(set(frames_a) ^ set(frames_b))[:5]}")
    for key in sorted(set(frames_a) & set(frames_b)):
        a, b = frames_a[key], frames_b[key]
        ids_a, ids_b = list(a["track_ids"]), list(b["track_ids"])
        if sorted(ids_a) != sorted(ids_b):
            problems.append(f"video {key[0]} frame {key[1]}: track ids {ids_a} vs {ids_b}")
            continue
        for k, tid in enumerate(ids_a):
            iou = agreement(a["masks"][k], b["masks"][ids_b.index(tid)])
            ious.append(iou)
            if iou < min_iou:
                problems.append(f"video {key[0]} frame {key[1]} track {tid}: mask IoU "
                                f"{iou:.3f} < {min_iou}")
    return dict(frames=len(frames_a), instances=len(ious),
                min_iou=min(ious) if ious else None, problems=problems)


def _frames_on(model, dataset, device, video_ids):
    from .inference import run_inference
    frames = {}
    model.to(device)

    def keep(vi, fi, out):
        frames[vi, fi] = dict(track_ids=list(out["track_ids"]), masks=np.asarray(out["masks"]))
    run_inference(model, dataset, progress=False, on_frame=keep, video_ids=video_ids)
    return frames


def check_gpu(iters=50, cpu_iters=10, videos=2, min_iou=0.99, log=print, record=None,
              environment=None):
    """Run the check; returns one row per method. Raises ObjPropError (one line) when no
    GPU can be used or when the GPU and the CPU disagree. ``record``: a JSON path that gets
    ``environment`` (:func:`objprop.doctor.environment_report`) and the rows, written before
    any disagreement is raised."""
    from .doctor import require_gpu_support
    require_gpu_support(1, what="--check-gpu")
    from .config import load_config
    from .data.toyvis import make_toyvis
    from .inference import build_model, build_test_dataset
    from .training import TrainSettings, train_subprocess
    rows, failures = [], []
    with tempfile.TemporaryDirectory(prefix="objprop_gpu_check_") as tmp:
        data = str(Path(tmp) / "toyvis")
        make_toyvis(data, seed=0, train_videos=6, valid_videos=videos, frames=8, height=160,
                    width=288, progress=False)
        for name, config in METHODS.items():
            runs = {}
            for device, gpus, n in (("cuda", 1, iters), ("cpu", 0, cpu_iters)):
                settings = TrainSettings(config=config, data_root=data, gpus=gpus, seed=0,
                                         max_iters=n, work_dir=str(Path(tmp) / name / device))
                t0, tail = time.time(), deque(maxlen=40)
                try:
                    runs[device] = train_subprocess(settings, log=tail.append)
                except ObjPropError:
                    log("\n".join(tail))     # the training's traceback, then the one line
                    raise
                log(f"[gpu-check] {roles.name(name)}: {n} iterations on {device} in "
                    f"{time.time() - t0:.0f} s ({runs[device]['s_per_iter']} s/iteration)")
            cfg = load_config(config, data_root=data, test_split="valid")
            dataset = build_test_dataset(cfg)
            model = build_model(cfg, runs["cuda"]["checkpoint"], device="cuda")
            video_ids = [v["id"] for v in dataset.vid_infos[:videos]]
            on_gpu = _frames_on(model, dataset, "cuda", video_ids)
            on_cpu = _frames_on(model, dataset, "cpu", video_ids)
            cmp = compare_frames(on_gpu, on_cpu, min_iou)
            rows.append(dict(role=name, method=roles.name(name), gpu_s_per_iter=runs["cuda"]["s_per_iter"],
                             cpu_s_per_iter=runs["cpu"]["s_per_iter"], **cmp))
            failures += [f"{roles.name(name)}: {p}" for p in cmp["problems"]]
    from .tables import markdown_table
    table = [dict(r, speedup=r["cpu_s_per_iter"] / r["gpu_s_per_iter"],
                  min_iou="-" if r["min_iou"] is None else f"{r['min_iou']:.4f}")
             for r in rows]
    log(markdown_table(table, [("GPU s/iter", "gpu_s_per_iter"), ("CPU s/iter", "cpu_s_per_iter"),
                               ("GPU speed-up", "speedup"), ("frames", "frames"),
                               ("instances", "instances"), ("min mask IoU", "min_iou")],
                       extra=(), digits=3))
    if record:
        from .io import write_json_atomic
        write_json_atomic(dict(environment=environment, methods=rows), record, indent=1)
    if failures:
        raise ObjPropError(f"GPU and CPU inference disagree ({len(failures)} problems; "
                           f"first: {failures[0]})")
    log(f"[gpu-check] ok: same tracks on GPU and CPU, every mask IoU >= {min_iou}")
    return rows
