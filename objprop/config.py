"""Loading mmdet-style configs, re-pointed at a data folder and split, with
``--cfg-options`` parsed as mmcv parses them."""
import argparse
import copy
import sys
from pathlib import Path

from .errors import ObjPropError

SPLITS = {
    # split name → (annotation file under DATA/annotations, frame folder under DATA)
    "train": ("instances_train.json", "train/JPEGImages"),
    "valid": ("instances_valid.json", "valid/JPEGImages"),
    "tune": ("instances_tune.json", "tune/JPEGImages"),  # ToyVIS: settings are chosen here
    "train_sub": ("instances_train_sub.json", "train/JPEGImages"),
    "minival": ("instances_minival.json", "train/JPEGImages"),
}


def split_paths(data_root, split):
    """(annotation file, frame folder) of ``split`` in a data folder of the official layout.

    ``valid`` and ``train`` are ToyVIS's / YouTube-VIS's own splits; ``train_sub`` and
    ``minival`` are the ones ``prepare_youtube_vis.py`` carves out of the train set.
    """
    if split not in SPLITS:
        raise ObjPropError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    ann, imgs = SPLITS[split]
    root = Path(data_root)
    ann_path, img_path = root / "annotations" / ann, root / imgs
    if not img_path.is_dir() and img_path.name == "JPEGImages":
        img_path = img_path.parent  # OVIS: frames at train/<video>/, no JPEGImages level
    if not ann_path.is_file():
        raise ObjPropError(f"no annotation file for split {split!r}", path=ann_path)
    if not img_path.is_dir():
        raise ObjPropError(f"no frame folder for split {split!r}", path=img_path)
    return str(ann_path), str(img_path)


def check_num_classes(cfg, categories, ann_file):
    """The config's detector must have one class per category of the annotation file
    (YouTube-VIS 2019 and 2021: 40 different ones, OVIS: 25): else one line naming both."""
    head = cfg.model.get("roi_head", {}).get("bbox_head", {})
    n = head.get("num_classes") if isinstance(head, dict) else None
    if n is not None and n != len(categories):
        raise ObjPropError(f"has {len(categories)} categories but the config's detector has "
                           f"{n} classes ({cfg.filename}): use the config of this data set "
                           f"(configs/*_youtubevis2019.py, *_youtubevis2021.py, *_ovis.py)",
                           path=ann_file)


def load_config(config, data_root=None, cfg_options=None, train_split=None, test_split=None,
                resolve_start=True):
    """mmcv Config from ``config``, with the data sets re-pointed at ``data_root``.

    ``train_split`` / ``test_split`` pick the splits (defaults: the config's own files).
    ``cfg_options`` is a dict of dotted keys, as mmdet's ``--cfg-options``. A ``load_from``
    of ``pretrained://<name>`` becomes the cached file (unless ``resolve_start`` is false).
    """
    from mmcv import Config
    if not Path(config).is_file():
        raise ObjPropError("config file not found", path=config)
    problem = None
    # mmcv parses a config from a temporary copy whose folder is gone by the time a failed
    # parse lets go of the copy's handle; Python would then print "Exception ignored ...
    # FileNotFoundError" after our one line, so that report is muted while the error is
    # dropped (only for this call)
    unraisable, sys.unraisablehook = sys.unraisablehook, lambda _: None
    try:
        try:
            cfg = Config.fromfile(str(config))
        except Exception as exc:  # the user's file: a syntax error, a missing base, a
            # name it uses but never defines ... (one line, with the file)
            problem = (str(exc).splitlines() or [type(exc).__name__])[0]
    finally:
        sys.unraisablehook = unraisable
    if problem is not None:
        raise ObjPropError(f"cannot load config: {problem}", path=config)
    missing = [key for key in ("model", "data") if key not in cfg]
    if missing:
        raise ObjPropError(f"not a detector config: no {' or '.join(missing)} (a config "
                           f"under configs/ inherits them from configs/_base_/)", path=config)
    if cfg_options:
        # a copy: mmcv's merge pops each value's _delete_ key, which would change the
        # caller's options for the next config loaded with them
        cfg.merge_from_dict(copy.deepcopy(dict(cfg_options)))
    if data_root is not None:
        for key, split in (("train", train_split or "train"), ("val", test_split or "valid"),
                           ("test", test_split or "valid")):
            if key == "train" and train_split is None and \
                    not (Path(data_root) / "annotations" / SPLITS["train"][0]).is_file():
                split = "train_sub"
            try:
                ann, imgs = split_paths(data_root, split)
            except ObjPropError:
                if key == "train" and train_split is None:
                    continue  # a test-only data folder
                raise
            cfg.data[key].ann_file, cfg.data[key].img_prefix = ann, imgs
        cfg.data_root = str(data_root)
    # a toy config's start, `pretrained://<name>`, as the file this machine's cache holds
    # (left as it is when not made yet: only a training needs it, and refuses it then)
    from .checkpoint import resolve_pretrained
    if resolve_start and cfg.get("load_from"):
        cfg.load_from = resolve_pretrained(cfg.load_from)
    return cfg


def positive_int(text):
    """argparse ``type``: a whole number >= 1 (a count such as ``--max-videos``; a negative
    one would silently slice videos off the end)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def unit_interval(text):
    """argparse ``type``: a number in [0, 1] (a score or IoU threshold)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:   # NaN fails too
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


class CfgOptionsAction(argparse.Action):
    """``KEY=VALUE ...`` → dict, each value parsed by mmcv's ``DictAction`` (imported when
    the flag is used, so that ``objprop``'s other subcommands do not load torch for it); an
    item without ``=`` is an argparse error (one line, exit 2), not DictAction's traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmcv import DictAction
        options = {}
        for item in values:
            if "=" not in item:
                raise argparse.ArgumentError(self, f"expects KEY=VALUE items, got {item!r}")
            key, value = item.split("=", 1)
            options[key] = DictAction._parse_iterable(value)
        setattr(namespace, self.dest, options)


def parse_cfg_options(options):
    """``--cfg-options`` as a dict: a dict is returned as is; ``["a.b=1", "c=(1,2)"]`` is
    parsed as the command line parses it (mmcv's ``DictAction``)."""
    if not options:
        return {}
    if isinstance(options, dict):
        return dict(options)
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={})
    try:
        return p.parse_args(["--cfg-options", *map(str, options)]).cfg_options
    except argparse.ArgumentError as exc:
        raise ObjPropError(f"--cfg-options {exc.message}") from None


def check_option_keys(cfg, options, config, allowed_new=()):
    """Every ``--cfg-options`` key must name an existing entry of ``cfg`` (list items by
    index; top-level keys in ``allowed_new`` may be new): a misspelt key is one line, not an
    option mmcv would add silently."""
    tree = cfg._cfg_dict.to_dict()
    for key in options:
        parts = key.split(".")
        if len(parts) == 1 and key in allowed_new:
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
