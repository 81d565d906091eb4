"""`objprop doctor --check-gpu` (``make gpu-check``): the CUDA path, end to end, on one GPU.

For each toy method (MaskTrack R-CNN, ObjProp): train ``iters`` iterations on one GPU
(mmcv's CUDA ops), ``cpu_iters`` on the CPU for the time per iteration, then run the GPU
checkpoint online over two ToyVIS videos on the GPU and on the CPU and compare frame by frame
(:func:`compare_frames`): the same tracks (up to their names), every paired mask with IoU >=
``min_iou``, and no instance on one device only unless it sits at the score threshold. Prints
one table (s/iteration GPU vs CPU, frames, paired and borderline instances, the smallest mask
IoU) and fails (one line, exit 2) where the devices disagree; without a usable GPU it refuses
at once, in one line, before anything is built.

The first run on a GPU (an H200, torch 2.11) compared track ids frame by frame: ObjProp agreed
everywhere, MaskTrack R-CNN after 50 iterations did not, an extra track on the CPU in three
frames and ids shifted after it, the detections of a barely trained model sitting at the
score threshold. Hence the pairing by masks and the borderline count. The second run (an
H100) still disagreed for both methods, with swapped tracks and masks at IoU 0.5-0.8 at scores
far above the threshold; the third, with TF32 off during the GPU's inference, agreed exactly
(every paired mask IoU 1.0, same tracks) while the GPU's default beside it did not: cuDNN
convolves in TF32 by default on Ampere and later GPUs (``torch.backends.cudnn.allow_tf32``),
ten bits of mantissa against the CPU's 23, and a barely trained model's tracker turns that into
different tracks. So the pass or fail is taken in fp32 on both devices; the GPU's default
(TF32) is compared too and reported beside it, not judged, and so is the GPU against itself.
"""
import contextlib
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


# two devices' instances in one frame are the same detection at mask IoU at least this
PAIR_IOU = 0.5


def _pairs(masks_a, masks_b):
    """``(i, j, iou)``: the two devices' instances of one frame paired greedily, highest
    mask IoU first, each pair at least :data:`PAIR_IOU`."""
    scored = sorted(((agreement(ma, mb), i, j) for i, ma in enumerate(masks_a)
                     for j, mb in enumerate(masks_b)), key=lambda t: -t[0])
    used_a, used_b, pairs = set(), set(), []
    for iou, i, j in scored:
        if iou < PAIR_IOU:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, iou))
    return pairs


def compare_frames(frames_a, frames_b, min_iou=0.99, score_thr=None, margin=0.01,
                   names=("first", "second")):
    """Compare two runs' per-frame outputs (``{(video, frame): simple_test output}``).

    In each frame the two runs' instances are paired by mask IoU (:func:`_pairs`). The same
    tracks means: every pair keeps one track on each side through the video (track ids are
    names given in order of creation, so they may differ between runs as long as the
    correspondence holds), and every paired mask overlaps at least ``min_iou``. An instance
    without a partner is *borderline* when its score is below ``score_thr + margin`` (a
    detection at the score threshold, which rounding on either device may keep or drop);
    otherwise a problem. Returns ``dict(frames, instances, min_iou, borderline,
    problems)``: ``problems`` lists, one line each, every departure."""
    problems, ious, borderline, tracks = [], [], 0, {}
    if set(frames_a) != set(frames_b):
        problems.append(f"different frames: {sorted(set(frames_a) ^ set(frames_b))[:5]}")
    for key in sorted(set(frames_a) & set(frames_b)):
        a, b = frames_a[key], frames_b[key]
        where = f"video {key[0]} frame {key[1]}"
        forward, back = tracks.setdefault(key[0], ({}, {}))
        pairs = _pairs(a["masks"], b["masks"])
        for i, j, iou in pairs:
            ta, tb = a["track_ids"][i], b["track_ids"][j]
            if forward.setdefault(ta, tb) != tb or back.setdefault(tb, ta) != ta:
                problems.append(f"{where}: {names[0]} track {ta} pairs with {names[1]} "
                                f"track {tb}, earlier with {forward[ta]} / {back[tb]}")
            ious.append(iou)
            if iou < min_iou:
                problems.append(f"{where} {names[0]} track {ta}: mask IoU {iou:.3f} < {min_iou}")
        for name, out, paired in ((names[0], a, {i for i, _, _ in pairs}),
                                  (names[1], b, {j for _, j, _ in pairs})):
            scores = out.get("scores")
            for k, tid in enumerate(out["track_ids"]):
                if k in paired:
                    continue
                score = None if scores is None else float(scores[k])
                if score is not None and score_thr is not None and score < score_thr + margin:
                    borderline += 1
                else:
                    problems.append(f"{where}: track {tid} only on the {name} run"
                                    + ("" if score is None else f" (score {score:.3f})"))
    return dict(frames=len(frames_a), instances=len(ious),
                min_iou=min(ious) if ious else None, borderline=borderline,
                problems=problems)


@contextlib.contextmanager
def _tf32(allowed):
    """cuDNN's and cuBLAS's TF32 switches set to ``allowed`` inside, restored after."""
    import torch
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def _frames_on(model, dataset, device, video_ids, tf32=False):
    """``{(video, frame): output}`` of the online inference on ``device``; on a GPU in fp32
    unless ``tf32``."""
    from .inference import run_inference
    frames = {}
    model.to(device)

    def keep(vi, fi, out):
        frames[vi, fi] = dict(track_ids=list(out["track_ids"]), masks=np.asarray(out["masks"]),
                              scores=np.asarray(out["scores"]))
    with _tf32(tf32):
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
    from .inference import build_model, build_test_dataset, test_precision_options
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
            # compared in float32 (no bf16 autocast at test time either): the devices' own
            # arithmetic, nothing that rounds it on purpose
            cfg = load_config(config, data_root=data, test_split="valid",
                              cfg_options=test_precision_options(load_config(config),
                                                                 "float32"))
            dataset = build_test_dataset(cfg)
            model = build_model(cfg, runs["cuda"]["checkpoint"], device="cuda")
            video_ids = [v["id"] for v in dataset.vid_infos[:videos]]
            on_gpu = _frames_on(model, dataset, "cuda", video_ids)
            again = _frames_on(model, dataset, "cuda", video_ids)   # is the GPU repeatable?
            on_gpu_tf32 = _frames_on(model, dataset, "cuda", video_ids, tf32=True)
            on_cpu = _frames_on(model, dataset, "cpu", video_ids)
            thr = cfg.model.test_cfg.rcnn.score_thr
            cmp = compare_frames(on_gpu, on_cpu, min_iou, names=("GPU", "CPU"), score_thr=thr)
            tf32 = compare_frames(on_gpu_tf32, on_cpu, min_iou, names=("GPU", "CPU"),
                                  score_thr=thr)
            rows.append(dict(role=name, method=roles.name(name), gpu_s_per_iter=runs["cuda"]["s_per_iter"],
                             cpu_s_per_iter=runs["cpu"]["s_per_iter"], **cmp,
                             tf32_min_iou=tf32["min_iou"], tf32_problems=tf32["problems"],
                             repeat_problems=compare_frames(on_gpu, again, min_iou,
                                                            names=("GPU", "GPU again"))["problems"]))
            failures += [f"{roles.name(name)}: {p}" for p in cmp["problems"]]
    from .tables import markdown_table
    iou = lambda v: "-" if v is None else f"{v:.4f}"      # noqa: E731
    table = [dict(r, speedup=r["cpu_s_per_iter"] / r["gpu_s_per_iter"], min_iou=iou(r["min_iou"]),
                  tf32=f"{iou(r['tf32_min_iou'])}, {len(r['tf32_problems'])} problems",
                  repeat=len(r["repeat_problems"]))
             for r in rows]
    log(markdown_table(table, [("GPU s/iter", "gpu_s_per_iter"), ("CPU s/iter", "cpu_s_per_iter"),
                               ("GPU speed-up", "speedup"), ("frames", "frames"),
                               ("paired instances", "instances"),
                               ("borderline", "borderline"), ("min mask IoU", "min_iou"),
                               ("TF32 (GPU default): min IoU, problems", "tf32"),
                               ("GPU vs GPU again: problems", "repeat")],
                       extra=(), digits=3))
    if record:
        import datetime

        from .io import write_json_atomic
        import json
        try:   # the paper part (objprop.gpu_check_paper) of an earlier run is kept
            kept = {k: v for k, v in json.loads(Path(record).read_text()).items()
                    if k == "paper"}
        except (OSError, ValueError, AttributeError):
            kept = {}
        write_json_atomic(dict(date=datetime.date.today().isoformat(), ok=not failures,
                               environment=environment, methods=rows, **kept), record,
                          indent=1)
    if failures:
        raise ObjPropError(f"GPU and CPU inference disagree ({len(failures)} problems; "
                           f"first: {failures[0]})")
    log(f"[gpu-check] ok: same tracks on GPU and CPU in fp32, every paired mask IoU >= {min_iou}; "
        f"{sum(r['borderline'] for r in rows)} instances at the score threshold on one side")
    return rows
