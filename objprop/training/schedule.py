"""The schedule of a run: linear lr scaling with the total batch, and ``--max-iters`` /
``--epochs`` applied to the runner and its hooks (the rules are in :mod:`objprop.training`'s
docs)."""


def base_batch_size(cfg):
    """The batch the config's lr is set for (``base_batch_size``, else mmdet's
    ``auto_scale_lr.base_batch_size``), or None."""
    return cfg.get("base_batch_size") or cfg.get("auto_scale_lr", {}).get("base_batch_size")


def linear_lr_scaling(cfg, batch):
    """Scale ``cfg.optimizer.lr`` by ``batch / base_batch_size``; returns the log line."""
    base = base_batch_size(cfg)
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


def schedule_summary(cfg):
    """What a config trains with, as the training chapter's prose names it: optimiser, lr,
    the batch the lr is set for, warm-up, lr steps and length (``"12 epochs"``)."""
    base = base_batch_size(cfg)
    runner, lr_cfg = cfg.runner, cfg.get("lr_config", {})
    by_epoch = runner.type == "EpochBasedRunner"
    length = runner.max_epochs if by_epoch else runner.max_iters
    per_gpu = cfg.data.samples_per_gpu
    return dict(optimizer=cfg.optimizer.type, lr=cfg.optimizer.lr, batch=base,
                samples_per_gpu=per_gpu, gpus=base // per_gpu if base else None,
                warmup_iters=lr_cfg.get("warmup_iters", 0),
                lr_steps=" and ".join(str(s) for s in lr_cfg.get("step", [])),
                length=f"{length} {'epochs' if by_epoch else 'iterations'}")
