"""`objprop pretrain` (`make pretrain`): the toy detector's COCO start.

The paper fine-tunes a Mask R-CNN pre-trained on COCO; the toy detector's counterpart is
pre-trained here on ToyCOCO (:mod:`objprop.data.toycoco`: still images from ToyVIS's
generator, clean, with more categories):

1. ToyCOCO is written into ``--data`` (reused when the folder holds the same request);
2. the toy Mask R-CNN (``configs/mask_rcnn_r18_fpn_toycoco.py``) is trained on its train
   split through the project's training loop (:func:`objprop.training.train`);
3. COCO box and mask AP (pycocotools' ``COCOeval``, through mmdet's ``CocoDataset.evaluate``)
   on the held-out ``valid`` images;
4. the weights (``model.pth``: state dict and meta, no optimizer) and the record (loss curve,
   AP, key) go into the per-machine cache, ``<cache>/<key>/`` (default
   ``~/.cache/objprop/pretrained``, or ``$OBJPROP_PRETRAINED_CACHE``), moved into place only
   when complete; ``results/pretrain.json`` gets the record;
5. the cache's pointer for the config (``<cache>/<config name>.json``) names this entry:
   the toy configs' ``load_from = 'pretrained://mask_rcnn_r18_fpn_toycoco'`` resolves to it
   (:func:`objprop.checkpoint.resolve_pretrained`), so they start from the checkpoint
   ``objprop pretrain`` last made or reused (``make pretrain``: the default one).

The key, as the mmcv wheel's (``scripts/setup.sh``): ToyCOCO's request (generator version,
data seed, images, size), the config's content (bases merged, options applied), the training
seed and length, and the versions of Python, torch, torchvision, mmcv, mmdet and numpy. A key
already in the cache is reused without training (one log line says so); a run interrupted
before its end resumes from its work folder (``<cache>/<key>.work``) on the next call.
"""
import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

from .checkpoint import MODEL_FILE, PRETRAINED_SCHEME, pretrained_cache_root as cache_root
from .checkpoint import write_pretrained_pointer
from .errors import ObjPropError
from .io import write_json_atomic

DEFAULT_CONFIG = "configs/mask_rcnn_r18_fpn_toycoco.py"
DEFAULT_DATA = "data/toycoco"
RESULTS = "results/pretrain.json"
RECORD_FILE = "pretrain.json"
AP_KEYS = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")  # mmdet's names of COCO's


def library_versions():
    """The versions the trained weights depend on (numerics and defaults)."""
    import mmcv
    import mmdet
    import numpy
    import torch
    import torchvision
    return dict(python=platform.python_version(), torch=torch.__version__,
                torchvision=torchvision.__version__, mmcv=mmcv.__version__,
                mmdet=mmdet.__version__, numpy=numpy.__version__)


def cache_key(config, data_request, seed, max_iters=None, cfg_options=None):
    """``(key, what it hashes)``: see the module's docs. The config is hashed as loaded,
    before its data is re-pointed (where the data lives does not change the weights; what
    it holds is ``data_request``)."""
    from .config import load_config
    cfg = load_config(config, cfg_options=cfg_options or None)
    text = json.dumps(cfg._cfg_dict.to_dict(), sort_keys=True, default=str)
    items = dict(data=data_request, config_sha=hashlib.sha256(text.encode()).hexdigest()[:16],
                 seed=seed, max_iters=max_iters, versions=library_versions())
    key = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]
    return key, items


def pretrain(config=DEFAULT_CONFIG, data=DEFAULT_DATA, seed=0, data_seed=0, max_iters=None,
             train_images=None, valid_images=None, cache_dir=None, out=RESULTS,
             cfg_options=None, threads=None, progress=True, log=print):
    """Make (or reuse) the pretrained toy detector; returns its record (also written to
    ``out``): ``checkpoint``, ``key``, ``reused``, ``loss_curve``, ``ap`` (box and mask, in
    percent), the training's length and speed."""
    from .config import load_config
    from .data import toycoco
    t0 = time.time()
    load_config(config, cfg_options=cfg_options or None)   # a bad config is one line first
    sizes = dict(train_images=train_images or toycoco.DEFAULT_IMAGES["train"],
                 valid_images=valid_images or toycoco.DEFAULT_IMAGES["valid"])
    summary, written = toycoco.ensure_toycoco(data, seed=data_seed, progress=progress,
                                              **sizes)
    log(toycoco.format_summary(summary) if written else
        f"ToyCOCO in {data} is up to date (same request)")
    key, items = cache_key(config, toycoco.request_of(data), seed, max_iters, cfg_options)
    root = cache_root(cache_dir)
    done = root / key
    if (done / RECORD_FILE).is_file() and (done / MODEL_FILE).is_file():
        # where the cache is now (its folder may have moved since it was written)
        record = dict(json.loads((done / RECORD_FILE).read_text()),
                      checkpoint=str(done / MODEL_FILE))
        log(f"pretrained checkpoint reused from the cache: {done / MODEL_FILE} (key {key}: "
            f"same ToyCOCO, config, seed, length and library versions)")
        reused = True
    else:
        record = _train_and_score(config, data, seed, max_iters, cfg_options, threads, root,
                                  key, items, log)
        reused = False
    write_pretrained_pointer(Path(config).stem, key, root)
    record = dict(record, reused=reused, seconds=round(time.time() - t0, 1),
                  load_from=PRETRAINED_SCHEME + Path(config).stem)
    if out:
        write_json_atomic(record, out, indent=2)
    return record


def ensure_start(config, cfg_options=None, log=print, **pretrain_kwargs):
    """The pretrained start a training ``config`` names (``load_from =
    'pretrained://<name>'``, with ``cfg_options`` applied): made, or reused from the cache, by
    :func:`pretrain` with ``configs/<name>.py``; returns its record. ``None`` when the config
    starts elsewhere (a checkpoint file, such as the paper configs' COCO one, or from
    scratch: ``load_from=None``), and nothing is made."""
    from .checkpoint import is_pretrained_url, pretrained_name, resolve_pretrained
    from .config import load_config, parse_cfg_options
    cfg = load_config(config, cfg_options=parse_cfg_options(cfg_options) or None,
                      resolve_start=False)
    if not is_pretrained_url(cfg.get("load_from")):
        return None
    if is_pretrained_url(resolve_pretrained(cfg.load_from, pretrain_kwargs.get("cache_dir"))):
        log(f"{cfg.load_from}, the toy detector's pretrained start, is not in this machine's "
            f"cache yet: pre-training it now (objprop pretrain, once per machine)")
    configs = Path(__file__).resolve().parents[1] / "configs"   # the repository's
    return pretrain(config=str(configs / f"{pretrained_name(cfg.load_from)}.py"), log=log,
                    **pretrain_kwargs)


def _train_and_score(config, data, seed, max_iters, cfg_options, threads, root, key, items,
                     log):
    """Train in ``<root>/<key>.work`` (resumed if interrupted), score, then move the weights
    and the record into ``<root>/<key>`` in one rename; returns the record."""
    from .training import TrainSettings, read_json_log
    from .training import loop
    work = root / f"{key}.work"
    log(f"pretraining {config} on {data} (seed {seed}; key {key}); work folder {work}")
    settings = TrainSettings(config=config, data_root=str(data), work_dir=str(work),
                             seed=seed, max_iters=max_iters, cfg_options=cfg_options or {},
                             threads=threads, resume=True)
    settings.check()
    summary = loop.train(settings)
    curve = [dict({k: round(v, 5) for k, v in e.items() if k.startswith("loss")},
                  iter=e["global_iter"]) for e in read_json_log(work)]
    ap, n_valid = score(config, data, summary["checkpoint"], cfg_options)
    log("held-out COCO AP: box {bbox[mAP]:.1f}, mask {segm[mAP]:.1f}".format(**ap))
    staging = root / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _export_weights(summary["checkpoint"], staging / MODEL_FILE, key)
    for f in work.glob("*.log.json"):
        shutil.copy2(f, staging / f.name)
    record = dict(key=key, key_items=items, checkpoint=str(root / key / MODEL_FILE),
                  config=str(config), data=str(data), seed=seed, iters=summary["iters"],
                  s_per_iter=summary["s_per_iter"], train_seconds=summary["seconds"],
                  threads=summary["threads"], valid_images=n_valid, ap=ap, loss_curve=curve)
    write_json_atomic(record, staging / RECORD_FILE, indent=2)
    if (root / key).exists():   # a half-written entry (no record or no weights)
        shutil.rmtree(root / key)
    os.replace(staging, root / key)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _export_weights(checkpoint, path, key):
    """The trained weights alone (the optimizer's state is twice their size and no start
    needs it), in mmcv's layout, as COCO's checkpoint is shipped."""
    import torch
    from .checkpoint import read_checkpoint
    ckpt, state = read_checkpoint(checkpoint, weights_only=False)
    meta = dict(ckpt.get("meta") or {}, pretrain_key=key)
    meta = {k: v for k, v in meta.items() if k in ("CLASSES", "mmdet_version", "pretrain_key",
                                                   "seed", "iter", "config")}
    torch.save(dict(state_dict=state, meta=meta), str(path))


def score(config, data, checkpoint, cfg_options=None):
    """COCO box and mask AP (percent) of a checkpoint on the held-out split (``valid``):
    ``({"bbox": {...}, "segm": {...}}, images)``. No detection at all scores 0."""
    import torch
    from mmcv.parallel import MMDataParallel
    from mmdet.core import encode_mask_results
    from mmdet.datasets import build_dataloader, build_dataset
    from mmdet.models import build_detector
    import objprop.data.dataset  # noqa: F401  (registers ToyCOCODataset)
    import objprop.models  # noqa: F401  (registers ToyMaskRCNN)
    from .checkpoint import load_model_checkpoint
    from .config import load_config
    cfg = load_config(config, data_root=str(data), cfg_options=cfg_options or None)
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    loader = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=0, dist=False,
                              shuffle=False)
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    load_model_checkpoint(model, checkpoint)
    model = MMDataParallel(model.eval(), device_ids=None)
    results = []
    with torch.no_grad():
        for batch in loader:
            # masks as RLE, as mmdet's single_gpu_test hands them to evaluate
            results.extend((boxes, encode_mask_results(masks))
                           for boxes, masks in model(return_loss=False, rescale=True, **batch))
    figures = {}
    if any(len(boxes) for boxes_per_class, _ in results for boxes in boxes_per_class):
        # pycocotools' progress prints; mmdet's notice that it drops boxes from the masks'
        # evaluation (since its v2.12) says nothing to a user. It resets the warning filters
        # itself (simplefilter('once')), so it is caught and every other warning passed on
        with contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings(record=True) as caught:
            figures = dataset.evaluate(results, metric=["bbox", "segm"], logger="silent")
        for w in caught:
            if not str(w.message).startswith('The key "bbox" is deleted'):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # COCOeval gives -1 where the split holds no object of a size range: None here
    ap = {kind: {k: _percent(figures.get(f"{kind}_{k}", 0.0)) for k in AP_KEYS}
          for kind in ("bbox", "segm")}
    return ap, len(dataset)


def _percent(value):
    return None if value < 0 else round(100 * float(value), 2)


# --------------------------------------------------------------------------- command line

def add_pretrain_arguments(p):
    """Flags of ``objprop pretrain``."""
    from .config import CfgOptionsAction, positive_int
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the pretraining config")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="ToyCOCO folder (written there unless it holds the same request)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--data-seed", type=int, default=0, help="ToyCOCO's seed")
    p.add_argument("--train-images", type=positive_int, default=None,
                   help="ToyCOCO training images (default: toycoco.DEFAULT_IMAGES)")
    p.add_argument("--valid-images", type=positive_int, default=None,
                   help="ToyCOCO held-out images, scored by COCO AP")
    p.add_argument("--max-iters", type=positive_int, default=None,
                   help="training length (default: the config's; a short run compresses "
                        "its schedule, as objprop train's)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads (default: every core the other processes leave)")
    p.add_argument("--cache-dir", default=None,
                   help="checkpoint cache (default: $OBJPROP_PRETRAINED_CACHE or "
                        "~/.cache/objprop/pretrained)")
    p.add_argument("--out", default=RESULTS, help="the record written (JSON)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default={},
                   action=CfgOptionsAction, help="override config keys (mmcv's DictAction)")
    return p


def run_from_args(args):
    """What ``objprop pretrain`` runs once its flags are parsed."""
    record = pretrain(config=args.config, data=args.data, seed=args.seed,
                      data_seed=args.data_seed, max_iters=args.max_iters,
                      train_images=args.train_images, valid_images=args.valid_images,
                      cache_dir=args.cache_dir, out=args.out, cfg_options=args.cfg_options,
                      threads=args.threads, progress=not args.quiet)
    print(f"pretrained checkpoint: {record['checkpoint']} (box AP {record['ap']['bbox']['mAP']}, "
          f"mask AP {record['ap']['segm']['mAP']}; {'reused' if record['reused'] else 'trained'}"
          f"); record: {args.out}")
    return record
