"""`objprop doctor --check-gpu-paper` (``make gpu-check-paper``): the paper's own setting on
one GPU, measured, with what a user who brings YouTube-VIS and four GPUs runs first.

:func:`check_gpu_paper` runs, on ``device`` (``cuda``; ``cpu`` is its twin in the tests, the
same code path at a tiny :class:`Size`):

1. ToyVIS written at YouTube-VIS's frame size (1280x720), so that decoding, resizing and the
   pipeline cost what they will; a checkpoint in the layout of mmdet's COCO Mask R-CNN R50-FPN
   (80 classes + background, randomly initialised: no download, :func:`write_coco_checkpoint`),
   so that the COCO loader and its re-sizing of the class layers run.
2. The paper configs of MaskTrack R-CNN and ObjProp (R50-FPN, the config's image scale and
   per-GPU batch) trained through ``book/train.md`` by papermill with ``-p gpus 1``, as the
   README tells a user to, for ``warmup + iters`` iterations, logging every iteration; the
   authors' preset too with ``authors`` (from the baseline's checkpoint, as theirs). From
   mmcv's JSON log after the warm-up: s/iteration, the share of an iteration spent waiting
   for data (``data_time`` against ``time``), peak GPU memory (mmcv logs
   ``torch.cuda.max_memory_allocated``), images per second, and the paper's schedule
   extrapolated to its four GPUs (:func:`extrapolate`).
3. Online inference of each trained model over two videos.
4. The DDP path: ``objprop train`` under torchrun, a world of one (NCCL on a GPU, gloo on the
   CPU), its per-iteration losses against a second single-process run of the same seed,
   judged by the difference of the two single-process runs (the device's own
   repeatability; :func:`compare_losses`).
5. torch.profiler (``objprop train --profile-iters``, :mod:`objprop.training.profile`) over
   the last iterations of that single-process run (the paper's size) and of a toy run: GPU
   busy share and data wait; with ``workers_after`` the paper-size profile again with that
   many data workers, before and after side by side.

The record goes under ``"paper"`` in the GPU check's JSON (the toy part, ``objprop.gpu_check``,
is kept), rewritten after every step so that a run stopped by a time limit still leaves what it
measured (``complete`` says whether it got to the end).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

from . import paper, roles
from .errors import ObjPropError

CONFIGS = {roles.BASELINE: "configs/masktrack_rcnn_r50_fpn_12e_youtubevis2019.py",
           roles.OBJPROP: "configs/objprop_r50_fpn_12e_youtubevis2019.py",
           roles.AUTHORS: "configs/objprop_r50_fpn_12e_youtubevis2019_authors.py"}
TOY_CONFIG = roles.TOY_CONFIGS[roles.BASELINE]
SEED = 0


@dataclass(frozen=True)
class Size:
    """How much the check runs. The defaults are the GPU's; :data:`CPU_TWIN` is the test's."""
    height: int = 720            # ToyVIS frames at YouTube-VIS's size
    width: int = 1280
    train_videos: int = 4        # the sampler cycles through them: the cost per frame counts
    valid_videos: int = 2        # the two videos of the online inference
    frames: int = 10
    warmup: int = 10             # iterations left out of the timing
    iters: int = 50              # iterations timed after the warm-up
    img_scale: tuple = None      # None: the config's (the paper's 640x360)
    samples_per_gpu: int = None  # None: the config's (the paper's 6)
    options: tuple = ()          # more --cfg-options ("key=value"), the twin's smaller heads
    check_iters: int = 12        # the DDP comparison's runs (and the profiled ones)
    profile_iters: int = 5       # their last iterations under torch.profiler
    workers_after: int = None    # the paper-size profile again with this many data workers
    authors: bool = False        # the authors' preset too


# the same path on two CPU cores in a minute or two: small frames, one pair a batch
CPU_TWIN = Size(height=128, width=224, train_videos=2, valid_videos=2, frames=4, warmup=1,
                iters=2, img_scale=(224, 128), samples_per_gpu=1, check_iters=3,
                profile_iters=1, options=(
                    # an untrained ObjProp keeps 100 detections a frame, each a track to fill
                    "model.test_cfg.rcnn.max_per_img=10",
                    # the heads' RoIs, most of an R50 iteration's time on the CPU
                    "model.train_cfg.rpn_proposal.max_per_img=100",
                    "model.train_cfg.rcnn.sampler.num=64"))


def write_coco_checkpoint(path, seed=SEED):
    """A Mask R-CNN R50-FPN with COCO's 80 classes, randomly initialised, saved as mmdet
    saves its model zoo checkpoints (``state_dict`` + ``meta``): the layout of the file the
    paper configs' ``load_from`` names, built from this book's own R50-FPN model config."""
    import copy

    import torch
    from mmdet.datasets import CocoDataset
    from mmdet.models import build_detector
    from .config import load_config
    m = copy.deepcopy(load_config(CONFIGS[roles.BASELINE]).model)
    m.type, m.roi_head.type = "MaskRCNN", "StandardRoIHead"   # plain Mask R-CNN: no track
    m.roi_head.pop("track_head")                             # head, no tracker
    m.test_cfg.pop("track")
    m.roi_head.bbox_head.num_classes = m.roi_head.mask_head.num_classes = len(CocoDataset.CLASSES)
    torch.manual_seed(seed)
    model = build_detector(m)
    model.init_weights()
    torch.save({"state_dict": model.state_dict(),
                "meta": dict(CLASSES=CocoDataset.CLASSES, note="random weights (GPU check)")},
               str(path))
    return str(path)


def config_options(config, coco, size, num_classes):
    """``--cfg-options`` (``key=value`` strings) of a paper config on ToyVIS: its classes,
    the COCO checkpoint, a log line every iteration (mmcv's time, data_time and memory per
    iteration), and the size's image scale where it sets one."""
    from .config import load_config
    cfg = load_config(config)
    opts = {"load_from": coco, "log_config.interval": 1,
            "model.roi_head.bbox_head.num_classes": num_classes,
            "model.roi_head.mask_head.num_classes": num_classes}
    if "num_classes" in cfg.model.get("prop_head", {}):   # the authors' class-specific masks
        opts["model.prop_head.num_classes"] = num_classes
    if size.img_scale:
        scale = f"({size.img_scale[0]},{size.img_scale[1]})"
        for split, kind in (("train", "Resize"), ("test", "MultiScaleFlipAug")):
            i = next(i for i, t in enumerate(cfg.data[split].pipeline) if t.type == kind)
            opts[f"data.{split}.pipeline.{i}.img_scale"] = scale
    return [f"{k}={v}" for k, v in opts.items()] + list(size.options)


def steady_stats(entries, warmup, samples_per_gpu):
    """From mmcv's per-iteration JSON log entries: the iterations after ``warmup``, their
    mean and median s/iteration, the share of their time spent waiting for data, images
    (key frames, the paper's unit) and frames (with the reference frames) per second, and
    the peak GPU memory of the run (MiB; None on the CPU)."""
    steady = [e for e in entries if e["global_iter"] > warmup]
    if not steady:
        raise ObjPropError(f"no logged iteration after the {warmup} warm-up iterations")
    times = sorted(e["time"] for e in steady)
    total = sum(times)
    spi = total / len(times)
    memory = [e["memory"] for e in entries if e.get("memory") is not None]
    return dict(iters=len(steady), warmup=warmup, s_per_iter=round(spi, 4),
                s_per_iter_median=round(times[len(times) // 2], 4),
                data_time_share=round(sum(e["data_time"] for e in steady) / total, 4),
                images_per_s=round(samples_per_gpu / spi, 4),
                frames_per_s=round(2 * samples_per_gpu / spi, 4),
                peak_memory_mib=max(memory) if memory else None)


def extrapolate(s_per_iter, samples_per_gpu):
    """The paper's schedule (:data:`objprop.paper.TRAINING`: 12 epochs on 4 GPUs) on
    YouTube-VIS 2019's training videos, in hours, assuming each of the four GPUs steps at the
    measured single-GPU s/iteration (the same per-GPU batch; the gradients' all-reduce not
    counted). The frame count is bracketed by
    :data:`objprop.paper.YTVIS_ANNOTATED_FRAMES_PER_VIDEO` (an epoch is a pass over the
    annotated frames)."""
    t = paper.TRAINING
    videos = paper.DATASETS["YouTube-VIS 2019"]["train_videos"]
    batch = t["gpus"] * samples_per_gpu

    def hours(frames):
        return round(t["epochs"] * math.ceil(frames / batch) * s_per_iter / 3600, 2)
    lo, hi = (videos * n for n in paper.YTVIS_ANNOTATED_FRAMES_PER_VIDEO)
    return dict(gpus=t["gpus"], epochs=t["epochs"], batch=batch, train_videos=videos,
                frames=[lo, hi], hours=[hours(lo), hours(hi)],
                hours_per_10k_frames=hours(10_000))


def compare_losses(single, again, ddp, rel=1e-6):
    """Per-iteration total losses of a single-process run, a second one of the same seed
    and a DDP run: the DDP path agrees when its largest difference from the single run is
    within twice the single runs' own (the device's repeatability) or ``rel`` of the loss.
    """
    n = min(len(single), len(again), len(ddp))
    if not n:
        return dict(iters=0, ok=False, problem="no losses to compare")
    repeat = max(abs(a - b) for a, b in zip(single[:n], again[:n]))
    diff = max(abs(a - b) for a, b in zip(ddp[:n], again[:n]))
    bound = max(2 * repeat, rel * max(abs(x) for x in again[:n]))
    return dict(iters=n, single=single[:n], single_again=again[:n], ddp=ddp[:n],
                repeat_max_diff=repeat, ddp_max_diff=diff, first_iter_equal=ddp[0] == again[0],
                ok=diff <= bound)


def _losses(work_dir):
    from .training import read_json_log
    return [e["loss"] for e in sorted(read_json_log(work_dir), key=lambda e: e["global_iter"])]


def _coco_line(work_dir):
    """The line the COCO loader logged (what it loaded and re-sized), from the run's log."""
    for log in sorted(Path(work_dir).glob("*.log")):
        for line in log.read_text().splitlines():
            if "COCO init from" in line:
                return line.split(" - ")[-1][:400]
    return None


def train_through_book(tmp, data, coco, size, gpus, num_classes, log=print):
    """``book/train.md`` run as the README's step 4 runs it (jupytext, then papermill
    ``-p gpus N``) on the paper configs: MaskTrack R-CNN and ObjProp, one seed, ``warmup +
    iters`` iterations. Returns the runs of its ``train.json`` by role."""
    work, results = Path(tmp) / "book_work_dirs", Path(tmp) / "book_results"
    out = Path(tmp) / "train.ipynb"
    # the chapter gives its one cfg_options to both runs: the two paper configs take the same
    opts = config_options(CONFIGS[roles.BASELINE], coco, size, num_classes)
    params = {"gpus": gpus, "config": CONFIGS[roles.OBJPROP],
              "baseline_config": CONFIGS[roles.BASELINE], "data_root": str(data),
              "work_dir": str(work), "results_dir": str(results),
              "max_iters": size.warmup + size.iters, "jobs": 1, "authors_seeds": 0}
    # run from the checkout, as the configs' paths are (the chapter chdirs there too)
    cmd = [sys.executable, "-m", "papermill", "-", str(out), "--no-progress-bar",
           "--log-output"]
    for k, v in params.items():
        cmd += ["-p", k, str(v)]
    # lists (and a None) as YAML, which papermill's -p would pass as strings
    cmd += ["-y", json.dumps(dict(seeds=[SEED], cfg_options=opts,
                                  samples_per_gpu=size.samples_per_gpu))]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log(f"[gpu-check-paper] jupytext --to ipynb book/train.md -o - | papermill - {out} "
        + " ".join(cmd[5:]))
    convert = subprocess.Popen([sys.executable, "-m", "jupytext", "--to", "ipynb",
                                "book/train.md", "-o", "-"],
                               stdout=subprocess.PIPE, env=env)
    run = subprocess.Popen(cmd, stdin=convert.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    convert.stdout.close()
    tail = deque(maxlen=40)
    for line in run.stdout:
        tail.append(line.rstrip())
        log(line.rstrip())
    if run.wait() != 0 or convert.wait() != 0:
        raise ObjPropError(f"papermill failed (exit {run.returncode}): "
                           f"{next((t for t in reversed(tail) if t.strip()), '')}",
                           path="book/train.md")
    runs = json.loads((results / "train.json").read_text())["runs"]
    return {r["role"]: r for r in runs}


def _infer(config, checkpoint, data, device, test_opts, videos):
    """Online inference of a trained model over the first ``videos`` valid videos on
    ``device``: frames, tracks, seconds and frames per second."""
    import torch
    from .config import load_config
    from .inference import build_model, build_test_dataset, run_inference
    cfg = load_config(config, data_root=str(data), test_split="valid",
                      cfg_options=_as_dict(test_opts))
    dataset = build_test_dataset(cfg)
    model = build_model(cfg, checkpoint, device=device)
    ids = [v["id"] for v in dataset.vid_infos[:videos]]
    frames = sum(v["length"] for v in dataset.vid_infos[:videos])
    t0 = time.perf_counter()
    results = run_inference(model, dataset, progress=False, video_ids=ids)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return dict(videos=len(ids), frames=frames, tracks=len(results),
                seconds=round(seconds, 3), fps=round(frames / seconds, 2))


def _as_dict(opts):
    from .config import parse_cfg_options
    return parse_cfg_options(opts)


def _test_options(opts):
    """The training options that matter at test time: the classes and the image scale."""
    return [o for o in opts if o.startswith(("model.", "data.test."))]


def _record(path, part):
    """``part`` under ``"paper"`` in the JSON at ``path``, the rest of the file kept."""
    if not path:
        return
    from .io import write_json_atomic
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        record = {}
    record["paper"] = part
    write_json_atomic(record, path, indent=1)


def check_gpu_paper(device="cuda", size=Size(), record=None, environment=None, log=print):
    """Run the check on ``device`` (see the module docs); returns the ``paper`` record.
    Without a usable GPU (``device="cuda"``) it refuses at once, in one line. Raises
    ObjPropError (one line) once everything is recorded when the DDP run's losses depart
    from the single process's by more than the device's own repeatability."""
    import datetime
    if device == "cuda":
        from .doctor import require_gpu_support
        require_gpu_support(1, what="--check-gpu-paper")
    from .data.toyvis import CATEGORIES, make_toyvis
    from .training import TrainSettings, launch_distributed, train_subprocess
    from .training.profile import PROFILE_NAME
    if size.warmup + size.iters < size.check_iters:
        raise ObjPropError("--paper-iters: the papermill runs must be at least as long as "
                           f"the DDP comparison's ({size.check_iters} iterations)")
    gpus = 1 if device == "cuda" else 0
    threads = None if gpus else min(2, os.cpu_count() or 1)  # CPU: the same sums each run
    part = dict(date=datetime.date.today().isoformat(), device=device, complete=False,
                environment=environment, size=asdict(size), seconds={})
    t_all = time.time()

    def step(name, t0):
        part["seconds"][name] = round(time.time() - t0, 1)
        part["seconds"]["total"] = round(time.time() - t_all, 1)
        _record(record, part)

    with tempfile.TemporaryDirectory(prefix="objprop_gpu_paper_") as tmp:
        tmp = Path(tmp)
        t0 = time.time()
        data = tmp / "toyvis"
        make_toyvis(data, seed=0, train_videos=size.train_videos,
                    valid_videos=size.valid_videos, tune_videos=0, frames=size.frames,
                    height=size.height, width=size.width, progress=False)
        toy_data = tmp / "toyvis_toy"       # the toy profile's data at the toy's own size
        make_toyvis(toy_data, seed=0, train_videos=2, valid_videos=1, tune_videos=0,
                    frames=size.frames, progress=False)
        coco = write_coco_checkpoint(tmp / "mask_rcnn_r50_fpn_coco_random.pth")
        n_cls = len(CATEGORIES)
        step("data_and_checkpoint", t0)

        # 1. MaskTrack R-CNN and ObjProp through book/train.md (papermill, -p gpus N)
        t0 = time.time()
        book_runs = train_through_book(tmp, data, coco, size, gpus, n_cls, log=log)
        trained = {r: dict(book_runs[r], via="papermill book/train.md")
                   for r in (roles.BASELINE, roles.OBJPROP)}
        step("papermill", t0)
        if size.authors:     # the authors' preset, from the baseline's checkpoint as theirs
            t0 = time.time()
            opts = config_options(CONFIGS[roles.AUTHORS], coco, size, n_cls)
            opts = [o for o in opts if not o.startswith("load_from=")] + \
                [f"load_from={trained[roles.BASELINE]['checkpoint']}"]
            s = TrainSettings(CONFIGS[roles.AUTHORS], data_root=str(data), gpus=gpus,
                              seed=SEED, max_iters=size.warmup + size.iters,
                              samples_per_gpu=size.samples_per_gpu, cfg_options=opts,
                              work_dir=str(tmp / "authors"))
            trained[roles.AUTHORS] = dict(train_subprocess(s, log=log),
                                          via="objprop train")
            step("authors", t0)
        methods = []
        for role, run in trained.items():
            spg = run.get("batch") or run.get("samples_per_gpu")
            row = dict(role=role, method=roles.name(role), config=CONFIGS[role],
                       via=run["via"], samples_per_gpu=spg,
                       coco_init=_coco_line(run["work_dir"]) if role != roles.AUTHORS
                       else "from the baseline's checkpoint",
                       **steady_stats(_read_log(run["work_dir"]), size.warmup, spg))
            row["extrapolated"] = extrapolate(row["s_per_iter"], spg)
            methods.append(row)
        part["methods"] = methods
        _record(record, part)

        # 2. online inference over two videos
        t0 = time.time()
        for row in methods:
            opts = config_options(CONFIGS[row["role"]], coco, size, n_cls)
            row["inference"] = _infer(CONFIGS[row["role"]], trained[row["role"]]["checkpoint"],
                                      data, device, _test_options(opts), size.valid_videos)
            log(f"[gpu-check-paper] {row['method']}: inference {row['inference']}")
        step("inference", t0)

        # 3. DDP (torchrun, a world of one) against two single-process runs of the same seed;
        #    the second single run carries the paper-size profile
        t0 = time.time()
        opts = config_options(CONFIGS[roles.BASELINE], coco, size, n_cls)
        single = TrainSettings(CONFIGS[roles.BASELINE], data_root=str(data), gpus=gpus,
                               seed=SEED, max_iters=size.check_iters, threads=threads,
                               samples_per_gpu=size.samples_per_gpu, cfg_options=opts,
                               work_dir=str(tmp / "single"),
                               profile_iters=size.profile_iters)
        train_subprocess(single, log=log)
        ddp = single.replace(work_dir=str(tmp / "ddp"), profile_iters=None)
        log(f"[gpu-check-paper] DDP: objprop train {' '.join(ddp.argv())} under torchrun, "
            f"one process ({'NCCL' if gpus else 'gloo'})")
        launch_distributed(ddp)
        # the papermill run's first iterations are the same seed's single-process run
        book_baseline = _losses(trained[roles.BASELINE]["work_dir"])
        part["ddp"] = dict(backend="nccl" if gpus else "gloo", world_size=1,
                           config=CONFIGS[roles.BASELINE],
                           **compare_losses(book_baseline, _losses(single.work_dir),
                                            _losses(ddp.work_dir)))
        step("ddp", t0)

        # 4. profiles: the paper's size (the run above), the toy's, and optionally the paper's
        #    with more data workers
        t0 = time.time()
        profiles = dict(paper=json.loads((Path(single.work_dir) / PROFILE_NAME).read_text()))
        toy = TrainSettings(TOY_CONFIG, data_root=str(toy_data), gpus=gpus, seed=SEED,
                            max_iters=size.check_iters, threads=threads,
                            work_dir=str(tmp / "toy"), profile_iters=size.profile_iters,
                            cfg_options=["load_from=None"])   # its speed, from any weights
        train_subprocess(toy, log=log)
        profiles["toy"] = json.loads((Path(toy.work_dir) / PROFILE_NAME).read_text())
        if size.workers_after:
            from .config import load_config
            before = load_config(CONFIGS[roles.BASELINE]).data.workers_per_gpu
            after = single.replace(work_dir=str(tmp / "workers"), cfg_options=[
                *opts, f"data.workers_per_gpu={size.workers_after}"])
            train_subprocess(after, log=log)
            profiles["paper_workers"] = dict(
                json.loads((Path(after.work_dir) / PROFILE_NAME).read_text()),
                workers_per_gpu=size.workers_after)
            profiles["paper"]["workers_per_gpu"] = before
        part["profile"] = profiles
        step("profiles", t0)
    part["complete"] = True
    _record(record, part)
    log(summary_table(part))
    if not part["ddp"]["ok"]:
        d = part["ddp"]
        raise ObjPropError(f"DDP ({d['backend']}, world of one) departs from the single "
                           f"process: largest loss difference {d['ddp_max_diff']:.3g} against "
                           f"{d['repeat_max_diff']:.3g} between two single-process runs")
    return part


def _read_log(work_dir):
    from .training import read_json_log
    return read_json_log(work_dir)


def ddp_sentence(d):
    """The DDP comparison (``part["ddp"]``) in one sentence: the check's table and the
    README block both say it this way."""
    return (f"DDP ({d['backend']}, a world of one) against the single process over "
            f"{d['iters']} iterations: largest loss difference {d['ddp_max_diff']:.2g}, "
            f"two single-process runs {d['repeat_max_diff']:.2g}"
            f" ({'agrees' if d['ok'] else 'DEPARTS'}).")


def summary_table(part):
    """The check's figures as a markdown table (a row per method) and a line each for the
    DDP comparison and the profiles."""
    from .tables import markdown_table
    rows = [dict(r, memory="-" if r["peak_memory_mib"] is None
                 else f"{r['peak_memory_mib'] / 1024:.2f}",
                 data=f"{100 * r['data_time_share']:.0f} %",
                 fps=r.get("inference", {}).get("fps", "-"),
                 h4=f"{r['extrapolated']['hours'][0]:.1f}-{r['extrapolated']['hours'][1]:.1f}")
            for r in part.get("methods", [])]
    text = markdown_table(rows, [("s/iter", "s_per_iter"), ("images/s", "images_per_s"),
                                 ("data wait", "data"), ("peak GiB", "memory"),
                                 ("inference frames/s", "fps"),
                                 (f"{paper.TRAINING['epochs']} epochs on "
                                  f"{paper.TRAINING['gpus']} GPUs (h)", "h4"), ("via", "via")],
                          first=("method", "method"), extra=(), digits=3)
    if part.get("ddp"):
        text += "\n" + ddp_sentence(part["ddp"])
    for name, p in (part.get("profile") or {}).items():
        busy = "-" if p.get("gpu_busy_share") is None else f"{100 * p['gpu_busy_share']:.0f} %"
        text += (f"\nprofile {name}: {p['s_per_iter']} s/iteration over {p['iters']}, "
                 f"data wait {100 * p['data_wait_share']:.0f} %, GPU busy {busy}")
    return text
