"""The training loop: mmdet's ``train_detector`` assembled from its parts (see
:mod:`objprop.training`), run by :func:`train` in this process or as one torchrun worker.
mmcv, mmdet and torch are imported when a run starts, so the command line stays light."""
import json
import os
import time
from pathlib import Path

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


def _tensorboard_available():
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        return True
    except Exception:
        return False


def train(settings):
    """Train one :class:`~objprop.training.settings.TrainSettings` in this process
    (``settings.launcher == 'pytorch'``: as one torchrun worker).

    Returns the run summary (also written to ``<work_dir>/train_summary.json`` by rank 0).
    """
    import torch
    import torch.distributed as dist
    distributed = settings.launcher == "pytorch"
    threads = torch.get_num_threads()   # the process's own, restored after the run
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if distributed and not dist.is_initialized():
        if settings.gpus:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if settings.gpus else "gloo")
    try:
        return _train(settings, distributed)
    finally:
        torch.set_num_threads(threads)
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(s, distributed):
    """One training: config, data, model, runner, run; then the run summary."""
    import objprop.data.dataset  # noqa: F401  (registers YouTubeVISDataset)
    import objprop.models  # noqa: F401  (registers the detectors and heads)
    from mmcv.runner import get_dist_info
    from mmdet.apis import set_random_seed
    from mmdet.datasets import build_dataset
    from ..config import check_num_classes
    from ..io import write_json_atomic
    from .resume import build_train_loader
    from .schedule import adjust_schedule, linear_lr_scaling
    from .settings import SUMMARY_NAME, prepare_config

    rank, world = get_dist_info()
    cfg, explicit = prepare_config(s.config, s.data_root, s.cfg_options)
    work_dir = Path(s.resolved_work_dir(cfg))
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg.work_dir = str(work_dir)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = _setup_logger(work_dir / f"{timestamp}.log", rank)
    logger.info(f"objprop train: {s.config} on {world} process(es)"
                f"{f' over {s.nnodes} nodes' if s.nnodes > 1 else ''}, "
                f"{'%d GPU(s) per node' % s.gpus if s.gpus else 'CPU'}, seed {s.seed}, "
                f"work_dir {work_dir}")
    set_random_seed(s.seed)
    cfg.seed = s.seed

    if s.samples_per_gpu:
        cfg.data.samples_per_gpu = s.samples_per_gpu
        cfg.data.get("train_dataloader", {}).pop("samples_per_gpu", None)
    spg = cfg.data.get("train_dataloader", {}).get("samples_per_gpu", cfg.data.samples_per_gpu)
    logger.info(linear_lr_scaling(cfg, spg * world))

    dataset = build_dataset(cfg.data.train)
    check_num_classes(cfg, dataset.CLASSES, cfg.data.train.ann_file)
    note = adjust_schedule(cfg, s.max_iters, s.epochs, -(-len(dataset) // (spg * world)),
                           explicit)
    if note:
        logger.info(note)

    model, resume_from = _build_model(cfg, s, dataset.CLASSES, work_dir, logger)
    if s.data_seed is not None and not resume_from:  # a resumed run restores its random state
        set_random_seed(s.data_seed)  # the initialisation drew from --seed, the rest from this
        logger.info(f"data seed {s.data_seed}: data order, augmentation and sampling")
    runner, recorder = _build_runner(cfg, s, model, distributed, dataset.CLASSES, work_dir,
                                     logger, timestamp)
    if resume_from:  # weights, optimizer, iteration and random states (runners.py; a
        runner.resume(resume_from, map_location="cpu")  # damaged file is one line, exit 2)
    resumed_at = runner.iter if resume_from else None
    _settle_threads(runner, s, distributed, resume_from, logger)
    # built after resuming: an iteration-based run reads on after the batches already used
    loader = build_train_loader(dataset, spg, cfg.data.workers_per_gpu, s.order_seed,
                                cfg.runner.type, distributed,
                                start_iter=runner.iter if resume_from else 0)
    _note_log_meta(runner, s.seed, loader)
    runner.run([loader], cfg.workflow)

    summary = _run_summary(s, cfg, runner, recorder, loader, work_dir, resumed_at, world, spg)
    if rank == 0:
        write_json_atomic(summary, work_dir / SUMMARY_NAME, indent=2)
        logger.info(f"done: {runner.iter} iterations ({recorder.n} in this run, "
                    f"{summary['s_per_iter']} s/iter); checkpoint {summary['checkpoint']}")
    return summary


def build_train_model(cfg, classes, start=True, logger=None):
    """The detector of a training run, at its initial weights (the random state decides
    them: the loop seeds it first, then builds the dataset, then this), and with ``start``
    the weights of ``load_from`` on top (the paper configs' COCO checkpoint, the toy configs'
    pretrained start: :func:`objprop.checkpoint.load_coco_init`)."""
    from mmdet.models import build_detector
    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"),
                           test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    model.CLASSES = classes
    if start and cfg.get("load_from"):
        from ..checkpoint import load_coco_init
        load_coco_init(model, cfg.load_from, logger=logger)
    return model


def _build_model(cfg, s, classes, work_dir, logger):
    """The detector, initialised (and with ``load_from``'s weights unless resuming), and
    the checkpoint to resume from (None: a fresh start)."""
    resume_from = cfg.get("resume_from")
    if s.resume and not resume_from:
        resume_from = latest_checkpoint(work_dir)
        logger.info(f"resume: {resume_from}" if resume_from else
                    f"resume: no checkpoint in {work_dir} yet; starting afresh")
    model = build_train_model(cfg, classes, start=not resume_from, logger=logger)
    return model, resume_from


def _wrap(model, cfg, gpus, distributed):
    """The model in mmcv's data-parallel wrapper (DDP across processes)."""
    from mmcv.parallel import MMDataParallel
    from .ddp import DDPTrainer, GPUDataParallel
    if distributed:
        ids = None
        if gpus:
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            model = model.cuda(local_rank)
            ids = [local_rank]
        return DDPTrainer(model, device_ids=ids, broadcast_buffers=False,
                          find_unused_parameters=cfg.get("find_unused_parameters", False))
    return GPUDataParallel(model.cuda(0), device_ids=[0]) if gpus else \
        MMDataParallel(model, device_ids=None)


def _build_runner(cfg, s, model, distributed, classes, work_dir, logger, timestamp):
    """mmcv's runner of ``cfg.runner`` (its atomic-checkpoint kind) with the config's hooks
    and the :class:`RunRecorder` that times the iterations; returns (runner, recorder)."""
    from mmcv.runner import (DistSamplerSeedHook, EpochBasedRunner, build_optimizer,
                             build_runner, get_dist_info)
    from mmdet import __version__ as mmdet_version
    from ..io import write_text_atomic
    from .runners import ATOMIC_RUNNERS, RunRecorder
    wrapped = _wrap(model, cfg, s.gpus, distributed)
    optimizer = build_optimizer(model, cfg.optimizer)
    meta = dict(exp_name=Path(s.config).name)
    try:  # mmcv's resume re-parses meta['config']: only a valid config text goes there
        meta["config"] = cfg.pretty_text
        if get_dist_info()[0] == 0:
            write_text_atomic(meta["config"], work_dir / Path(s.config).name)
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
    checkpoint_config["meta"] = dict(mmdet_version=mmdet_version, CLASSES=classes)
    runner.register_training_hooks(cfg.lr_config, cfg.optimizer_config, checkpoint_config,
                                   log_config, cfg.get("momentum_config"),
                                   custom_hooks_config=cfg.get("custom_hooks"))
    if distributed and isinstance(runner, EpochBasedRunner):
        runner.register_hook(DistSamplerSeedHook())
    if s.profile_iters:  # the last iterations under torch.profiler (profile.py)
        from .profile import PRIORITY, ProfileHook
        runner.register_hook(ProfileHook(s.profile_iters), priority=PRIORITY)
    recorder = RunRecorder()
    runner.register_hook(recorder, priority="LOWEST")
    return runner, recorder


def _settle_threads(runner, s, distributed, resume_from, logger):
    """The run's thread count, once the checkpoint it resumes (if any) is read: fixed by
    ``--threads``, or by the count that checkpoint records (:func:`~objprop.training.threads.
    fixed_threads`); else a CPU run on every core shares the cores (:class:`CoreShareHook`).
    Checkpoints record the fixed count (None: shared), so that a resume can keep it."""
    import torch
    from .runners import CoreShareHook
    from .threads import THREADS_KEY, fixed_threads
    recorded = (runner.loaded_meta or {}).get(THREADS_KEY) if resume_from else None
    threads, note = fixed_threads(s.threads, recorded)
    if note:
        logger.info(note)
    if threads:
        torch.set_num_threads(threads)   # train() gives the process its own count back
    shared = not threads and not s.gpus and not distributed   # a CPU run on every core
    if shared:
        runner.register_hook(CoreShareHook(), priority="VERY_LOW")
    runner.meta[THREADS_KEY] = None if shared else torch.get_num_threads()


def _note_log_meta(runner, seed, loader):
    """meta is dumped as the JSON log's first line: how to read its iteration numbers."""
    from mmcv.runner import EpochBasedRunner
    text_hook = [h for h in runner.hooks if type(h).__name__ == "TextLoggerHook"]
    runner.meta.update(seed=seed, objprop_log=dict(
        by_epoch=bool(text_hook and text_hook[0].by_epoch), iters_per_epoch=len(loader)
        if isinstance(runner, EpochBasedRunner) else None))


def _run_summary(s, cfg, runner, recorder, loader, work_dir, resumed_at, world, spg):
    """The run summary (``train_summary.json``): where the checkpoint is, how far the run
    got, its speed and last losses, and the request that made it."""
    import torch
    from mmcv.runner import EpochBasedRunner
    from .settings import SUMMARY_NAME
    seconds = (recorder.t1 - recorder.t0) if recorder.n else 0.0
    max_total = runner.max_iters if not isinstance(runner, EpochBasedRunner) else \
        runner.max_epochs * len(loader)
    summary = dict(
        config=str(s.config), checkpoint=latest_checkpoint(work_dir), work_dir=str(work_dir),
        json_logs=[str(p) for p in sorted(work_dir.glob("*.log.json"))],
        iters=runner.iter, epochs=runner.epoch, max_iters=max_total,
        complete=bool(runner.iter >= max_total), runner=type(runner).__name__,
        resumed_from=resumed_at, iters_run=recorder.n, seconds=round(seconds, 3),
        s_per_iter=round(seconds / recorder.n, 4) if recorder.n else None,
        s_per_iter_median=round(sorted(recorder.durations)[len(recorder.durations) // 2], 4)
        if recorder.n else None,
        gpus=s.gpus, procs=s.procs_per_node if not s.gpus else 1, nnodes=s.nnodes,
        threads=torch.get_num_threads(),
        world_size=world, samples_per_gpu=spg,
        batch=spg * world, lr=cfg.optimizer.lr, seed=s.seed, data_seed=s.order_seed,
        device="cuda" if s.gpus else "cpu",
        final_losses={k: round(float(v), 5) for k, v in recorder.last.items()
                      if k.startswith("loss")},
        request=s.request())
    previous = work_dir / SUMMARY_NAME
    if not recorder.n and previous.is_file():  # resumed a finished run: keep its timing
        old = json.loads(previous.read_text())
        summary.update({k: old.get(k) for k in ("seconds", "s_per_iter", "s_per_iter_median",
                                                "final_losses", "iters_run")})
    return summary
