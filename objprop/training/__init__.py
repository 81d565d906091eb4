"""Training: mmcv's runner driving mmdet 2.x's training loop, on the CPU or on N GPUs.

``objprop train --config C [--data DIR] [--gpus N] [--procs P] [--work-dir W] [--resume]
[--max-iters N | --epochs E] [--samples-per-gpu S] [--seed S] [--cfg-options k=v ...]``

The loop is mmdet's ``train_detector`` assembled from the same parts (``build_dataloader``,
``build_optimizer``, ``build_runner``, the runner's training hooks), with four changes:

* **Processes.** One process trains in place (CPU, or ``--gpus 1``). ``--gpus N`` (N > 1) or
  ``--gpus 0 --procs P`` (P > 1) re-launch this command under ``torchrun`` with
  ``--launcher pytorch``: NCCL on GPUs, gloo on the CPU. mmdet's ``build_ddp`` refuses the
  CPU, so the detector is wrapped here in torch's ``DistributedDataParallel`` behind a
  ``train_step`` adaptor (:class:`DDPTrainer`, registered as an mmcv module wrapper so
  checkpoints keep the detector's own keys). mmdet's samplers agree on a seed with a CUDA
  broadcast; on gloo that broadcast is done on the CPU.
* **Learning rate.** Linear scaling: the effective batch is ``samples_per_gpu`` x world size;
  when it differs from the config's ``base_batch_size`` the lr is multiplied by
  ``batch / base_batch_size`` and a line says so (``lr 0.005 → 0.00125 for batch 6 (linear
  scaling from batch 24)``). The scaling applies to the lr in force after ``--cfg-options``.
* **Short runs.** ``--max-iters N`` on an ``IterBasedRunner`` config compresses its schedule:
  max_iters = N, and the lr steps, warm-up length and checkpoint interval are scaled by
  N / max_iters (clipped to [1, N]); the log interval becomes at most N // 5 (at least 1), so
  a short run still logs a curve. On an ``EpochBasedRunner`` config (the paper's), ``--max-iters
  N`` instead *stops the paper schedule after N iterations*: the runner becomes an
  ``IterBasedRunner`` of N iterations whose lr steps are the epoch steps x iterations per
  epoch (warm-up unchanged, it is counted in iterations already) and whose checkpoint interval
  is the epoch interval in iterations, capped at N. ``--epochs E`` sets the number of epochs
  (epoch configs: steps scaled by E / max_epochs; iteration configs: N = E x iterations per
  epoch, then compressed as above). Keys given explicitly in ``--cfg-options``
  (``lr_config.step``, ``lr_config.warmup_iters``, ``checkpoint_config.interval``,
  ``log_config.interval``) are never rescaled.
* **Checkpoints** are whole and count completed iterations: the registered runners of
  :mod:`objprop.training.runners` (the config's runner kind, with its own
  ``save_checkpoint``). ``--resume`` continues from the newest checkpoint in the work folder (weights, optimizer
  state, iteration count, hence the lr schedule), so a run killed and resumed ends at the
  same iteration as an uninterrupted one, and on the same machine with the same losses:
  checkpoints also hold the random states, and an iteration-based run's sampler reads on
  after the batches already used (:mod:`objprop.training.resume`).

Logs: ``<work_dir>/<timestamp>.log`` (text), ``<timestamp>.log.json`` (one JSON object a
logging interval; :func:`read_json_log`, :func:`plot_losses`), TensorBoard under
``<work_dir>/tf_logs`` when ``tensorboard`` imports (else skipped with a note), and mmcv's
progress line (``Iter [20/600] lr ... eta ... loss ...``) on stderr. When a run ends, rank 0
writes ``<work_dir>/train_summary.json`` (iterations, seconds, s/iter, final losses,
checkpoint): :func:`train_subprocess`, the book's entry point, returns it.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from ..errors import ObjPropError

SUMMARY_NAME = "train_summary.json"
# top-level keys the trainer reads although a config may not define them
TRAINER_KEYS = {"find_unused_parameters", "resume_from", "load_from", "work_dir",
                "custom_hooks", "momentum_config", "base_batch_size"}


# ----------------------------------------------------------------------------- CLI

def add_train_arguments(p):
    p.add_argument("--config", required=True, help="mmdet-style config (configs/*.py)")
    p.add_argument("--data", help="data folder in the official layout (default: config's)")
    p.add_argument("--gpus", type=int, default=0,
                   help="GPUs (one process each; >1 launches torchrun with NCCL)")
    p.add_argument("--procs", type=int, default=1,
                   help="CPU processes when --gpus 0 (>1 launches torchrun with gloo)")
    p.add_argument("--work-dir", help="checkpoints and logs (default: "
                   "work_dirs/<config>/seed<seed>: one folder per config and seed)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in the work folder, if any")
    p.add_argument("--max-iters", type=int,
                   help="short run: N iterations (iteration schedules are compressed, epoch "
                        "schedules stopped after N iterations)")
    p.add_argument("--epochs", type=int, help="number of epochs (see the module docs)")
    p.add_argument("--samples-per-gpu", type=int,
                   help="images per process (lr scales linearly with the total batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override config keys (dotted; list items by index); keys must exist")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                   help=argparse.SUPPRESS)  # set by the torchrun re-launch


def _options(args):
    return dict(config=args.config, data_root=args.data, work_dir=args.work_dir,
                gpus=args.gpus, procs=args.procs, resume=args.resume,
                max_iters=args.max_iters, epochs=args.epochs,
                samples_per_gpu=args.samples_per_gpu, seed=args.seed,
                cfg_options=list(args.cfg_options or []))


def run_from_args(args):
    opts = _options(args)
    if args.launcher == "pytorch":  # a torchrun worker
        train(**opts, launcher="pytorch")
        return
    check_request(**{k: opts[k] for k in ("config", "data_root", "gpus", "procs",
                                          "max_iters", "epochs", "samples_per_gpu",
                                          "cfg_options")})
    world = opts["gpus"] if opts["gpus"] else opts["procs"]
    if world > 1:
        launch_distributed(args, world)
    else:
        train(**opts)


def launch_distributed(args, world):
    """Re-run this ``objprop train`` command under torchrun, one process per GPU/CPU slot."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={world}", "-m", "objprop.cli", "train",
           "--config", str(args.config), "--gpus", str(args.gpus), "--procs", str(args.procs),
           "--seed", str(args.seed), "--launcher", "pytorch"]
    for flag, value in (("--data", args.data), ("--work-dir", args.work_dir),
                        ("--max-iters", args.max_iters), ("--epochs", args.epochs),
                        ("--samples-per-gpu", args.samples_per_gpu)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.resume:
        cmd.append("--resume")
    if args.cfg_options:
        cmd += ["--cfg-options", *args.cfg_options]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
    env.setdefault("PYTHONUNBUFFERED", "1")
    backend = "NCCL" if args.gpus else "gloo"
    print(f"[train] launching {world} processes ({backend}) with torchrun", flush=True)
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise ObjPropError(f"{world} training processes failed (torchrun exit {rc}); the "
                           "first worker error is printed above", path=args.config)


# ----------------------------------------------------------------------------- config

def check_cfg_options(cfg, options, config):
    """Every ``--cfg-options`` key must name an existing config entry (list items by index);
    a few top-level keys the trainer reads (:data:`TRAINER_KEYS`) are allowed as new."""
    tree = cfg._cfg_dict.to_dict()
    for key in options:
        parts = key.split(".")
        if len(parts) == 1 and key in TRAINER_KEYS:
            continue
        node, seen = tree, []
        for part in parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                where = ".".join(seen) or "the top level"
                raise ObjPropError(f"unknown --cfg-options key {key!r} (no {part!r} under "
                                   f"{where})", path=config)
            seen.append(part)


def prepare_config(config, data_root=None, cfg_options=None):
    """The mmcv Config of a training run: re-pointed at ``data_root``, options applied and
    checked; the train split's files must exist."""
    from ..config import load_config, parse_cfg_options
    if data_root is not None and not Path(data_root).is_dir():
        raise ObjPropError("data folder not found", path=data_root)
    options = parse_cfg_options(cfg_options)
    if options:
        check_cfg_options(load_config(config), options, config)
    cfg = load_config(config, data_root=data_root, cfg_options=options or None)
    cfg_explicit = sorted(options)
    train = cfg.data.train
    if not Path(train.ann_file).is_file():
        raise ObjPropError("training annotation file not found (pass --data DIR)",
                           path=train.ann_file)
    if not Path(train.img_prefix).is_dir():
        raise ObjPropError("training frame folder not found", path=train.img_prefix)
    return cfg, cfg_explicit


def check_request(config, data_root=None, gpus=0, procs=1, max_iters=None, epochs=None,
                  samples_per_gpu=None, cfg_options=None):
    """Fail early, in one line, on what the launcher can check before any process starts."""
    if gpus < 0 or procs < 1:
        raise ObjPropError(f"--gpus must be >= 0 and --procs >= 1 (got {gpus}, {procs})")
    if gpus and procs > 1:
        raise ObjPropError("--procs is for CPU runs (--gpus 0); with --gpus N there is one "
                           "process per GPU")
    for name, v in (("--max-iters", max_iters), ("--epochs", epochs),
                    ("--samples-per-gpu", samples_per_gpu)):
        if v is not None and v < 1:
            raise ObjPropError(f"{name} must be >= 1 (got {v})")
    if max_iters and epochs:
        raise ObjPropError("give --max-iters or --epochs, not both")
    if gpus:
        from ..doctor import require_gpu_support
        require_gpu_support(gpus)
    cfg, _ = prepare_config(config, data_root, cfg_options)
    if cfg.get("load_from") and not Path(cfg.load_from).is_file():
        raise ObjPropError("pretrained checkpoint (load_from) not found: download mmdet's COCO "
                           "Mask R-CNN checkpoint there, or pass --cfg-options load_from=None",
                           path=cfg.load_from)
    return cfg


def linear_lr_scaling(cfg, batch):
    """Scale ``cfg.optimizer.lr`` by ``batch / base_batch_size``; returns the log line."""
    base = cfg.get("base_batch_size") or cfg.get("auto_scale_lr", {}).get("base_batch_size")
    lr0 = cfg.optimizer.lr
    if not base or batch == base:
        return f"lr {lr0:g} for batch {batch} (the config's base batch; no scaling)"
    cfg.optimizer.lr = lr0 * batch / base
    return (f"lr {lr0:g} → {cfg.optimizer.lr:g} for batch {batch} "
            f"(linear scaling from batch {base})")


def adjust_schedule(cfg, max_iters=None, epochs=None, iters_per_epoch=None, explicit=()):
    """Apply ``--max-iters`` / ``--epochs`` to the runner and its hooks (see the module
    docs); keys in ``explicit`` (given in --cfg-options) are left alone. Returns a line
    describing the change, or None."""
    explicit = set(explicit)
    runner = cfg.runner
    if runner.type == "IterBasedRunner":
        old = runner.max_iters
        new = max_iters or (epochs * iters_per_epoch if epochs else None)
        if not new:
            return None
        _scale_iter_schedule(cfg, old, new, explicit)
        return (f"schedule compressed from {old} to {new} iterations (lr steps "
                f"{cfg.lr_config.get('step')}, checkpoint every "
                f"{cfg.checkpoint_config.get('interval')})")
    ipe = max(1, iters_per_epoch or 1)
    if max_iters:
        lr = cfg.lr_config
        if "step" in lr and lr.get("by_epoch", True) and "lr_config.step" not in explicit:
            steps = lr.step if isinstance(lr.step, (list, tuple)) else [lr.step]
            lr.step = [min(max_iters, max(1, s * ipe)) for s in steps]
        lr.by_epoch = False
        ck = cfg.checkpoint_config
        if ck.get("by_epoch", True) and "checkpoint_config.interval" not in explicit:
            ck.interval = min(max_iters, ck.get("interval", 1) * ipe)
        ck.by_epoch = False
        for h in cfg.log_config.get("hooks", []):
            h["by_epoch"] = False
        if "log_config.interval" not in explicit:
            cfg.log_config.interval = max(1, min(cfg.log_config.interval, max_iters // 5))
        cfg.runner = dict(type="IterBasedRunner", max_iters=max_iters)
        return (f"epoch schedule stopped after {max_iters} iterations ({ipe} iterations per "
                f"epoch; lr steps at iterations {lr.get('step')})")
    if epochs:
        old = runner.max_epochs
        runner.max_epochs = epochs
        lr = cfg.lr_config
        if "step" in lr and "lr_config.step" not in explicit:
            steps = lr.step if isinstance(lr.step, (list, tuple)) else [lr.step]
            lr.step = [min(epochs, max(1, round(s * epochs / old))) for s in steps]
        return f"{epochs} epochs instead of {old} (lr steps at epochs {lr.get('step')})"
    return None


def _scale_iter_schedule(cfg, old, new, explicit):
    f = new / old
    cfg.runner.max_iters = new
    lr = cfg.lr_config
    if "step" in lr and "lr_config.step" not in explicit:
        steps = lr.step if isinstance(lr.step, (list, tuple)) else [lr.step]
        lr.step = [min(new, max(1, round(s * f))) for s in steps]
    if lr.get("warmup") and "lr_config.warmup_iters" not in explicit:
        lr.warmup_iters = min(new, max(1, round(lr.get("warmup_iters", 1) * f)))
    ck = cfg.checkpoint_config
    if "checkpoint_config.interval" not in explicit:
        ck.interval = min(new, max(1, round(ck.get("interval", new) * f)))
    if "log_config.interval" not in explicit:
        cfg.log_config.interval = max(1, min(cfg.log_config.interval, new // 5))


def _request(config, data_root, gpus, procs, max_iters, epochs, samples_per_gpu, seed,
             cfg_options):
    """What a finished run is compared with before a resumed book run skips it: the
    command's arguments, plus what they point at (the config's content with its bases and
    options, the training data's version), so an edited config or regenerated data is
    trained again rather than reused."""
    return dict(config=str(Path(config).resolve()),
                data_root=None if data_root is None else str(Path(data_root).resolve()),
                gpus=gpus, procs=procs if not gpus else 1, max_iters=max_iters, epochs=epochs,
                samples_per_gpu=samples_per_gpu, seed=seed, cfg_options=list(cfg_options or []),
                **content_fingerprint(config, data_root, cfg_options))


def content_fingerprint(config, data_root=None, cfg_options=None):
    """``config_sha``: a hash of the fully loaded config (bases merged, options applied);
    ``data_version``: the training annotation file's ``info`` (ToyVIS writes its generator
    version and data seed there) and its size. Unreadable inputs give ``None`` entries, and
    the training itself then reports them."""
    import hashlib
    try:
        cfg, _ = prepare_config(config, data_root, cfg_options)
    except ObjPropError:
        return dict(config_sha=None, data_version=None)
    text = json.dumps(cfg._cfg_dict.to_dict(), sort_keys=True, default=str)
    return dict(config_sha=hashlib.sha256(text.encode()).hexdigest()[:16],
                data_version=data_version(cfg.data.train.ann_file))


def data_version(ann_file):
    """The version of a training annotation file: its ``info`` block (for files up to
    64 MiB; YouTube-VIS's are larger and are told apart by size) and its size in bytes."""
    path = Path(ann_file)
    size = path.stat().st_size
    info = None
    if size <= 64 << 20:
        try:
            info = json.loads(path.read_text()).get("info")
        except (ValueError, AttributeError):
            info = None
    return dict(info=info, bytes=size)


def run_dir(work_dir, config, seed):
    """The work folder of one training run: ``<work_dir>/<config name>/seed<seed>``. Each
    method and seed has its own, so a second seed never resumes the first one's run."""
    return str(Path(work_dir) / Path(config).stem / f"seed{seed}")


# ----------------------------------------------------------------------------- runner parts

_LAZY = {}


def _parts():
    """mmcv/torch classes, defined on first use (the CLI imports this module for its flags)."""
    if _LAZY:
        return _LAZY
    import torch
    from mmcv.parallel import MODULE_WRAPPERS, scatter_kwargs
    from mmcv.runner import Hook

    class _TrainStep(torch.nn.Module):
        """DDP runs ``forward``; this one runs the detector's ``train_step`` (loss, log vars)."""

        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, data_batch, optimizer=None, **kwargs):
            return self.module.train_step(data_batch, optimizer, **kwargs)

    class DDPTrainer(torch.nn.Module):
        """torch ``DistributedDataParallel`` with mmcv's ``train_step`` interface, on the CPU
        (gloo, ``device_ids=None``) or one GPU per process (NCCL). ``.module`` is the bare
        detector, so mmcv's checkpoint functions save and load its own keys."""

        def __init__(self, module, device_ids=None, **ddp_kwargs):
            super().__init__()
            self.module = module
            self.device_ids = device_ids
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                _TrainStep(module), device_ids=device_ids, **ddp_kwargs)

        def _scatter(self, inputs, kwargs):
            ins, kws = scatter_kwargs(inputs, kwargs, self.device_ids or [-1], dim=0)
            return ins[0], kws[0]

        def train_step(self, data_batch, optimizer=None, **kwargs):
            (data,), kw = self._scatter((data_batch,), kwargs)
            return self.ddp(data, optimizer, **kw)

        def val_step(self, data_batch, optimizer=None, **kwargs):
            (data,), kw = self._scatter((data_batch,), kwargs)
            return self.module.val_step(data, optimizer, **kw)

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

    MODULE_WRAPPERS.register_module(module=DDPTrainer, force=True)

    class RunRecorder(Hook):
        """Timing and last losses of this invocation (rank 0 writes them to the summary)."""

        def __init__(self):
            self.t0, self.t1, self.start, self.n, self.last = None, None, None, 0, {}
            self.durations = []

        def before_train_iter(self, runner):
            self.start = time.perf_counter()
            if self.t0 is None:
                self.t0 = self.start

        def after_train_iter(self, runner):
            self.t1 = time.perf_counter()
            self.durations.append(self.t1 - self.start)
            self.n += 1
            self.last = dict(runner.outputs.get("log_vars", {}))

    _LAZY.update(DDPTrainer=DDPTrainer, RunRecorder=RunRecorder)
    return _LAZY


def latest_checkpoint(work_dir):
    """Newest whole checkpoint in ``work_dir`` (``latest.pth``'s target, else the highest
    ``iter_N.pth`` / ``epoch_N.pth``); None if there is none."""
    wd = Path(work_dir)
    latest = wd / "latest.pth"
    if latest.is_symlink():
        target = Path(os.readlink(latest))
        target = target if target.is_absolute() else wd / target
        if target.is_file():
            return str(target)
    elif latest.is_file():
        return str(latest)
    best = None
    for p in wd.glob("*_*.pth"):
        kind, _, num = p.stem.partition("_")
        if kind in ("iter", "epoch") and num.isdigit():
            key = (p.stat().st_mtime, int(num))
            if best is None or key > best[0]:
                best = (key, p)
    return None if best is None else str(best[1])


def _setup_logger(log_file, rank):
    """mmdet's root logger ('mmdet'), re-pointed at this run's log file (mmcv caches loggers
    per process: a second run in the same process would keep the first run's file)."""
    import logging
    from mmcv.utils import get_logger
    logger = get_logger("mmdet", log_file=None, log_level="INFO")
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
            h.close()
    if rank == 0:
        fh = logging.FileHandler(log_file, "a")
        fh.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        logger.addHandler(fh)
        logger.setLevel(logging.INFO)
        # mmcv's init_weights dumps every parameter's initialisation (hundreds of lines) to
        # the first mmcv-made logger's file, or to its console when it has none
        from mmcv.utils.logging import logger_initialized
        first = logging.getLogger(next(iter(logger_initialized)))
        if first is not logger:
            for h in list(first.handlers):
                if isinstance(h, logging.FileHandler):
                    first.removeHandler(h)
                    h.close()
            first.addHandler(fh)
    else:
        logger.setLevel(logging.ERROR)
    return logger


def _sync_seeds_on_cpu():
    """mmdet's samplers broadcast their seed with a CUDA tensor; on gloo use the CPU."""
    import functools
    import importlib
    from mmdet.core.utils import dist_utils
    for name in ("infinite_sampler", "distributed_sampler", "group_sampler",
                 "class_aware_sampler"):
        try:
            mod = importlib.import_module(f"mmdet.datasets.samplers.{name}")
        except ImportError:
            continue
        if hasattr(mod, "sync_random_seed"):
            mod.sync_random_seed = functools.partial(dist_utils.sync_random_seed, device="cpu")


def _tensorboard_available():
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        return True
    except Exception:
        return False


# ----------------------------------------------------------------------------- training

def train(config, data_root=None, work_dir=None, gpus=0, procs=1, resume=False,
          max_iters=None, epochs=None, samples_per_gpu=None, seed=0, cfg_options=None,
          launcher="none"):
    """Train one config in this process (``launcher='pytorch'``: as one torchrun worker).

    Returns the run summary (also written to ``<work_dir>/train_summary.json`` by rank 0).
    """
    import torch
    import torch.distributed as dist
    distributed = launcher == "pytorch"
    if distributed and not dist.is_initialized():
        if gpus:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if gpus else "gloo")
    try:
        return _train(config, data_root, work_dir, gpus, procs, resume, max_iters, epochs,
                      samples_per_gpu, seed, cfg_options, distributed)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(config, data_root, work_dir, gpus, procs, resume, max_iters, epochs,
           samples_per_gpu, seed, cfg_options, distributed):
    import objprop.data.dataset  # noqa: F401  (registers YouTubeVISDataset)
    import objprop.models  # noqa: F401  (registers the detectors and heads)
    from mmcv.parallel import MMDataParallel
    from mmcv.runner import (DistSamplerSeedHook, EpochBasedRunner, build_optimizer,
                             build_runner, get_dist_info)
    from mmdet import __version__ as mmdet_version
    from mmdet.apis import set_random_seed
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    from ..io import write_json_atomic, write_text_atomic
    from .resume import build_train_loader
    from .runners import ATOMIC_RUNNERS
    from ..config import check_num_classes

    rank, world = get_dist_info()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cfg, explicit = prepare_config(config, data_root, cfg_options)
    work_dir = Path(work_dir or cfg.get("work_dir") or run_dir("work_dirs", config, seed))
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg.work_dir = str(work_dir)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = _setup_logger(work_dir / f"{timestamp}.log", rank)
    device = "cuda" if gpus else "cpu"
    logger.info(f"objprop train: {config} on {world} process(es), "
                f"{'%d GPU(s)' % gpus if gpus else 'CPU'}, seed {seed}, work_dir {work_dir}")
    set_random_seed(seed)
    cfg.seed = seed

    if samples_per_gpu:
        cfg.data.samples_per_gpu = samples_per_gpu
        cfg.data.get("train_dataloader", {}).pop("samples_per_gpu", None)
    spg = cfg.data.get("train_dataloader", {}).get("samples_per_gpu", cfg.data.samples_per_gpu)
    logger.info(linear_lr_scaling(cfg, spg * world))

    dataset = build_dataset(cfg.data.train)
    check_num_classes(cfg, dataset.CLASSES, cfg.data.train.ann_file)
    iters_per_epoch = -(-len(dataset) // (spg * world))
    note = adjust_schedule(cfg, max_iters, epochs, iters_per_epoch, explicit)
    if note:
        logger.info(note)

    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"),
                           test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    model.CLASSES = dataset.CLASSES
    resume_from = cfg.get("resume_from")
    if resume and not resume_from:
        resume_from = latest_checkpoint(work_dir)
        logger.info(f"resume: {resume_from}" if resume_from else
                    f"resume: no checkpoint in {work_dir} yet; starting from scratch")
    if cfg.get("load_from") and not resume_from:
        from ..checkpoint import load_coco_init
        load_coco_init(model, cfg.load_from, logger=logger)

    if distributed and not gpus and cfg.runner.type != "IterBasedRunner":
        _sync_seeds_on_cpu()  # mmdet's epoch samplers; iteration-based: resume.py's own
    if distributed:
        ids = None
        if gpus:
            model = model.cuda(local_rank)
            ids = [local_rank]
        wrapped = _parts()["DDPTrainer"](
            model, device_ids=ids, broadcast_buffers=False,
            find_unused_parameters=cfg.get("find_unused_parameters", False))
    else:
        wrapped = MMDataParallel(model.cuda(0), device_ids=[0]) if gpus else \
            MMDataParallel(model, device_ids=None)
    optimizer = build_optimizer(model, cfg.optimizer)

    meta = dict(exp_name=Path(config).name)
    try:  # mmcv's resume re-parses meta['config']: only a valid config text goes there
        meta["config"] = cfg.pretty_text
        if rank == 0:
            write_text_atomic(meta["config"], work_dir / Path(config).name)
    except Exception as exc:  # yapf versions differ
        logger.info(f"config not dumped ({type(exc).__name__})")
    # the same runner kind, with whole, exactly resumable checkpoints (runners.py)
    runner = build_runner(dict(cfg.runner, type=ATOMIC_RUNNERS.get(cfg.runner.type,
                                                                   cfg.runner.type)),
                          default_args=dict(model=wrapped, optimizer=optimizer,
                                            work_dir=str(work_dir), logger=logger, meta=meta))
    runner.timestamp = timestamp

    log_config = dict(cfg.log_config)
    hooks = [dict(h) for h in log_config.get("hooks", [])]
    if not _tensorboard_available():
        kept = [h for h in hooks if "Tensorboard" not in h.get("type", "")]
        if len(kept) != len(hooks):
            logger.info("tensorboard is not installed: TensorBoard logging skipped")
        hooks = kept
    log_config["hooks"] = hooks
    checkpoint_config = dict(cfg.checkpoint_config)
    checkpoint_config["meta"] = dict(mmdet_version=mmdet_version, CLASSES=dataset.CLASSES)
    runner.register_training_hooks(cfg.lr_config, cfg.optimizer_config, checkpoint_config,
                                   log_config, cfg.get("momentum_config"),
                                   custom_hooks_config=cfg.get("custom_hooks"))
    if distributed and isinstance(runner, EpochBasedRunner):
        runner.register_hook(DistSamplerSeedHook())
    recorder = _parts()["RunRecorder"]()
    runner.register_hook(recorder, priority="LOWEST")

    if resume_from:  # weights, optimizer, iteration and random states (runners.py)
        runner.resume(resume_from, map_location="cpu")
    resumed_at = runner.iter
    # built after resuming: an iteration-based run reads on after the batches already used
    loader = build_train_loader(dataset, spg, cfg.data.workers_per_gpu, seed, cfg.runner.type,
                                distributed, start_iter=runner.iter if resume_from else 0)
    # meta is dumped as the JSON log's first line: how to read its iteration numbers
    text_hook = [h for h in runner.hooks if type(h).__name__ == "TextLoggerHook"]
    runner.meta.update(seed=seed, objprop_log=dict(
        by_epoch=bool(text_hook and text_hook[0].by_epoch), iters_per_epoch=len(loader)
        if isinstance(runner, EpochBasedRunner) else None))
    runner.run([loader], cfg.workflow)

    seconds = (recorder.t1 - recorder.t0) if recorder.n else 0.0
    max_total = runner.max_iters if not isinstance(runner, EpochBasedRunner) else \
        runner.max_epochs * len(loader)
    done = runner.iter >= max_total
    summary = dict(
        config=str(config), checkpoint=latest_checkpoint(work_dir), work_dir=str(work_dir),
        json_logs=[str(p) for p in sorted(work_dir.glob("*.log.json"))],
        iters=runner.iter, epochs=runner.epoch, max_iters=max_total, complete=bool(done),
        runner=type(runner).__name__, resumed_from=resumed_at if resume_from else None,
        iters_run=recorder.n, seconds=round(seconds, 3),
        s_per_iter=round(seconds / recorder.n, 4) if recorder.n else None,
        s_per_iter_median=round(sorted(recorder.durations)[len(recorder.durations) // 2], 4)
        if recorder.n else None,
        gpus=gpus, procs=world if not gpus else 1, world_size=world, samples_per_gpu=spg,
        batch=spg * world, lr=cfg.optimizer.lr, seed=seed, device=device,
        final_losses={k: round(float(v), 5) for k, v in recorder.last.items()
                      if k.startswith("loss")},
        request=_request(config, data_root, gpus, procs, max_iters, epochs, samples_per_gpu,
                         seed, cfg_options))
    previous = work_dir / SUMMARY_NAME
    if not recorder.n and previous.is_file():  # resumed a finished run: keep its timing
        old = json.loads(previous.read_text())
        summary.update({k: old.get(k) for k in ("seconds", "s_per_iter", "s_per_iter_median",
                                                "final_losses", "iters_run")})
    if rank == 0:
        write_json_atomic(summary, work_dir / SUMMARY_NAME, indent=2)
        logger.info(f"done: {runner.iter} iterations ({recorder.n} in this run, "
                    f"{summary['s_per_iter']} s/iter); checkpoint {summary['checkpoint']}")
    return summary


# ----------------------------------------------------------------------------- the book's side

def finished_run(work_dir, request):
    """The summary of a complete run in ``work_dir`` made with the same request, else None."""
    path = Path(work_dir) / SUMMARY_NAME
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        return None
    ok = (summary.get("complete") and summary.get("request") == request
          and summary.get("checkpoint") and Path(summary["checkpoint"]).is_file())
    return summary if ok else None


def train_subprocess(config, data_root=None, work_dir=None, gpus=0, procs=1, resume=True,
                     max_iters=None, epochs=None, samples_per_gpu=None, seed=0,
                     cfg_options=None, log=print):
    """Run ``objprop train`` in a subprocess, streaming its output through ``log``; returns
    the run summary (``train_summary.json``) with ``skipped``.

    With ``resume`` and a complete run of the same request already in ``work_dir`` nothing is
    trained (``skipped=True``): re-running the book is cheap.
    """
    work_dir = str(work_dir or run_dir("work_dirs", config, seed))
    request = _request(config, data_root, gpus, procs, max_iters, epochs, samples_per_gpu,
                       seed, cfg_options)
    name = Path(config).stem
    if resume:
        done = finished_run(work_dir, request)
        if done:
            log(f"[train] {name}: a finished run ({done['iters']} iterations, "
                f"{done['checkpoint']}) is already in {work_dir}; not re-training "
                f"(resume=True)")
            return dict(done, skipped=True)
    cmd = [sys.executable, "-m", "objprop.cli", "train", "--config", str(config),
           "--work-dir", work_dir, "--gpus", str(gpus), "--procs", str(procs),
           "--seed", str(seed)]
    for flag, value in (("--data", data_root), ("--max-iters", max_iters),
                        ("--epochs", epochs), ("--samples-per-gpu", samples_per_gpu)):
        if value is not None:
            cmd += [flag, str(value)]
    if resume:
        cmd.append("--resume")
    if cfg_options:
        cmd += ["--cfg-options", *cfg_options]
    log(f"[train] {name}: {' '.join(cmd[2:])}")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, env=env)
    tail, in_hooks = deque(maxlen=30), False
    for line in proc.stdout:
        line = line.rstrip()
        tail.append(line)
        # mmcv's table of hooks is long and the same for every run: leave it in the log file
        if "Hooks will be executed in the following order" in line:
            in_hooks = True
        elif in_hooks and "workflow:" in line:
            in_hooks = False
        if line and not in_hooks:
            log(line)
    rc = proc.wait()
    if rc != 0:
        last = next((t for t in reversed(tail) if t.strip()), "")
        raise ObjPropError(f"training failed (exit {rc}): {last}", path=config)
    summary = json.loads((Path(work_dir) / SUMMARY_NAME).read_text())
    return dict(summary, skipped=False)


def run_record(summary):
    """The fields of a run that ``results/train.json`` keeps (``objprop.report`` reads
    ``config`` and ``checkpoint``)."""
    keys = ("config", "checkpoint", "work_dir", "iters", "seconds", "s_per_iter", "gpus",
            "procs", "seed", "final_losses", "batch", "lr", "skipped")
    return {k: summary.get(k) for k in keys}


def runs_table(records):
    """A markdown table of :func:`run_record` dicts (with a ``method`` name each)."""
    lines = ["| Method | seed | iterations | batch | lr | processes | s/iter | final loss | "
             "checkpoint | trained now |", "|" + "---|" * 10]
    for r in records:
        procs = f"{r['gpus']} GPU" if r.get("gpus") else f"{r.get('procs', 1)} CPU"
        loss = (r.get("final_losses") or {}).get("loss")
        spi = r.get("s_per_iter")
        lines.append(f"| {r.get('method', Path(r['config']).stem)} | {r.get('seed', '')} | "
                     f"{r['iters']} | "
                     f"{r.get('batch', '')} | {r.get('lr', 0):g} | {procs} | "
                     f"{'' if spi is None else f'{spi:.2f}'} | "
                     f"{'' if loss is None else f'{loss:.3f}'} | `{r['checkpoint']}` | "
                     f"{'no (finished run reused)' if r.get('skipped') else 'yes'} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- logs

def _read_one_log(path):
    meta, entries = {}, []
    for line in Path(path).read_text().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if not isinstance(d, dict):
            continue
        if "mode" not in d:
            meta = d.get("objprop_log") or meta
            continue
        if d["mode"] == "train":
            entries.append(d)
    ipe = meta.get("iters_per_epoch") if meta.get("by_epoch") else None
    for d in entries:
        d["global_iter"] = (d["epoch"] - 1) * ipe + d["iter"] if ipe else d["iter"]
    return entries


def read_json_log(path):
    """Train entries of mmcv's JSON log(s) (``*.log.json``), each with ``global_iter``.

    ``path`` is one log or a work folder; a folder's logs are read in time order and a
    resumed run's entries replace those of the killed run from the same iteration on.
    """
    p = Path(path)
    files = sorted(p.glob("*.log.json")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise ObjPropError("no training log (*.log.json)", path=p)
    out = []
    for f in files:
        entries = _read_one_log(f)
        if entries and out:
            first = entries[0]["global_iter"]
            out = [e for e in out if e["global_iter"] < first]
        out.extend(entries)
    return out


def plot_losses(log, ax=None, title=None, label=None, total_only=False):
    """Each ``loss_*`` and the total loss against the iteration; ``log`` is a log path, a work
    folder or the entries of :func:`read_json_log`. ``total_only`` draws the total alone,
    labelled ``label`` (one curve per seed on a shared axis). Returns the figure."""
    import matplotlib.pyplot as plt
    entries = log if isinstance(log, list) else read_json_log(log)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    keys = [] if total_only else sorted({k for e in entries for k in e if k.startswith("loss_")})
    for key in keys + ["loss"]:
        pts = [(e["global_iter"], e[key]) for e in entries if key in e]
        if pts:
            xs, ys = zip(*pts)
            total = key == "loss"
            ax.plot(xs, ys, marker="." if len(pts) < 20 else None,
                    lw=2.5 if total and not total_only else 1.2,
                    color="black" if total and not total_only else None,
                    label=(label or "total") if total else key[len("loss_"):])
    if not entries:
        ax.text(0.5, 0.5, "no logged iterations", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title or "training losses")
    ax.grid(alpha=0.3)
    if entries:
        ax.legend(fontsize=7, ncol=2)
    return fig
