"""Loading mmdet-style configs, re-pointed at a data folder and split, with
``--cfg-options`` parsed as mmcv parses them."""
import argparse
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


def load_config(config, data_root=None, cfg_options=None, train_split=None, test_split=None):
    """mmcv Config from ``config``, with the data sets re-pointed at ``data_root``.

    ``train_split`` / ``test_split`` pick the splits (defaults: the config's own files).
    ``cfg_options`` is a dict of dotted keys, as mmdet's ``--cfg-options``.
    """
    from mmcv import Config
    if not Path(config).is_file():
        raise ObjPropError("config file not found", path=config)
    try:
        cfg = Config.fromfile(str(config))
    except Exception as exc:  # a syntax error or a missing base: one line, with the file
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ObjPropError(f"cannot load config: {first}", path=config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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
    return cfg


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
