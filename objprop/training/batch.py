"""One training batch opened up, for the training chapter: the loss terms the loop sums."""


def one_batch_losses(config, data_root=None, seed=0, cfg_options=None):
    """The loss terms of the first batch a run of ``config`` with ``seed`` trains on, at
    the run's initial weights: the model, data and sampler are built in the training loop's
    order with its seed, so these are the numbers its first iteration sums (before any
    update; from the config's ``load_from``, as the run starts). Returns ``{term: value}``
    (mmdet's ``log_vars``: each ``loss_*`` term, the accuracies, and ``loss``, their total)
    and ``pairs``: the frame pairs in the batch."""
    import torch
    import objprop.data.dataset  # noqa: F401  (registers YouTubeVISDataset)
    import objprop.models  # noqa: F401  (registers the detectors and heads)
    from mmcv.parallel import MMDataParallel
    from mmdet.apis import set_random_seed
    from mmdet.datasets import build_dataset
    from .loop import build_train_model
    from .resume import build_train_loader
    from .settings import prepare_config
    cfg, _ = prepare_config(config, data_root, cfg_options)
    set_random_seed(seed)
    dataset = build_dataset(cfg.data.train)
    model = build_train_model(cfg, dataset.CLASSES)
    loader = build_train_loader(dataset, cfg.data.samples_per_gpu, 0, seed, cfg.runner.type,
                                distributed=False)
    with torch.no_grad():
        out = MMDataParallel(model.train(), device_ids=None).train_step(next(iter(loader)),
                                                                        None)
    return dict(out["log_vars"], pairs=out["num_samples"])


def loss_terms_table(losses):
    """``{display name: one_batch_losses(...)}`` as a markdown table: a row per loss term
    (a dash where a model has no such term), the total last."""
    from ..tables import markdown_table
    terms = sorted({k for v in losses.values() for k in v if k.startswith("loss_")})
    rows = [dict(term=k, **{n: f"{v[k]:.3f}" if k in v else "–" for n, v in losses.items()})
            for k in terms + ["loss"]]
    return markdown_table(rows, [(n, n) for n in losses], first=("loss term", "term"),
                          extra=())
