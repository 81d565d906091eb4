"""Real YouTube-VIS: check the official layout, carve a train / mini-validation split.

The official validation sets ship without ground truth (scores come from a server), but
the paper's oracle study needs ground truth on held-out videos. As the paper does, a
mini-validation split is carved out of the train set: a fixed, seeded draw of videos, so
everyone who runs this gets the same split.

Accepted layouts under ``ROOT``::

    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/train.json             (2019)
    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/train/instances.json   (2021)
    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/annotations/instances_train.json
                                                              (ToyVIS / already converted)

Writes ``OUT/instances_train_sub.json`` and ``OUT/instances_minival.json`` (``OUT``
defaults to ``ROOT/annotations``, where ``objprop.config`` looks for the ``train_sub`` and
``minival`` splits; both use the frames in ``ROOT/train/JPEGImages``), and, when the official
valid split is there (``ROOT/valid.json`` or ``ROOT/valid/instances.json`` with
``ROOT/valid/JPEGImages``), its video list as ``OUT/instances_valid.json``, so that
``objprop test --split valid --out X.zip`` runs on it (its ground truth is not public:
scores come from the evaluation server). Nothing is written
unless every check passes, and each file is written under a temporary name then renamed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import ObjPropError
from ..io import write_json_atomic
from .ytvis import load_ytvis, summarize

ANNOTATION_CANDIDATES = ("train.json", "train/instances.json",
                         "annotations/instances_train.json")
VALID_CANDIDATES = ("valid.json", "valid/instances.json")
OUTPUT_FILES = {"train_sub": "instances_train_sub.json", "minival": "instances_minival.json",
                "valid": "instances_valid.json"}
IMAGE_CHECKS = ("exists", "header", "decode")
MINIVAL_FRACTION = 0.1


def find_train_annotations(root):
    """The train annotation file of a YouTube-VIS root (2019, 2021 or converted names)."""
    for name in ANNOTATION_CANDIDATES:
        if (Path(root) / name).is_file():
            return Path(root) / name
    raise ObjPropError(f"no train annotation file (looked for {', '.join(ANNOTATION_CANDIDATES)})",
                       path=root)


def check_frames(gt, frame_dir, level="header"):
    """Every frame of every video exists (``exists``), opens as an image of the video's
    size (``header``, the default: cheap, reads only the header), or decodes fully
    (``decode``)."""
    from PIL import Image
    if level not in IMAGE_CHECKS:
        raise ObjPropError(f"image check must be one of {IMAGE_CHECKS}, got {level!r}")
    for v in gt["videos"]:
        for f, name in enumerate(v["file_names"]):
            path, item = Path(frame_dir) / name, f"video {v['id']}, frame {f}"
            if not path.is_file():
                raise ObjPropError(f"frame file missing ({item})", path=path)
            if level == "exists":
                continue
            try:
                with Image.open(path) as im:
                    size = im.size
                    if level == "decode":
                        im.load()
            except Exception as exc:  # PIL raises many kinds for a bad file
                raise ObjPropError(f"unreadable image ({item}): {exc}", path=path)
            if size != (v["width"], v["height"]):
                raise ObjPropError(f"image is {size[0]}x{size[1]} but the video says "
                                   f"{v['width']}x{v['height']} ({item})", path=path)


def split_video_ids(video_ids, minival_videos, seed):
    """(train_sub ids, minival ids), each sorted: a seeded draw independent of file order."""
    ids = sorted(video_ids)
    if not 1 <= minival_videos < len(ids):
        raise ObjPropError(f"minival needs between 1 and {len(ids) - 1} videos "
                           f"(the train set has {len(ids)}), got {minival_videos}")
    chosen = set(np.random.default_rng(seed).choice(ids, minival_videos, replace=False)
                 .tolist())
    return [i for i in ids if i not in chosen], [i for i in ids if i in chosen]


def subset(gt, video_ids, note):
    """The ground truth restricted to ``video_ids`` (file order kept), ``info`` noted."""
    keep = set(video_ids)
    return dict(gt, info=dict(gt.get("info") or {}, objprop_split=note),
                videos=[v for v in gt["videos"] if v["id"] in keep],
                annotations=[a for a in gt["annotations"] if a["video_id"] in keep])


def prepare_youtube_vis(root, out_dir=None, minival_videos=None, seed=0,
                        check_images="header"):
    """Check ``root`` and write the train_sub / minival split; returns a summary dict.

    ``minival_videos`` defaults to 10 % of the train videos (at least one).
    """
    root = Path(root)
    frame_dir = root / "train" / "JPEGImages"
    if not frame_dir.is_dir():
        raise ObjPropError("not a YouTube-VIS folder: no train/JPEGImages", path=root)
    ann_file = find_train_annotations(root)
    gt = load_ytvis(ann_file)
    if not gt["annotations"]:
        raise ObjPropError("the train annotation file has no annotations", path=ann_file)
    check_frames(gt, frame_dir, check_images)
    ids = [v["id"] for v in gt["videos"]]
    if minival_videos is None:
        minival_videos = max(1, round(MINIVAL_FRACTION * len(ids)))
    train_ids, minival_ids = split_video_ids(ids, minival_videos, seed)
    source = ann_file.relative_to(root).as_posix()
    out_dir = Path(out_dir) if out_dir is not None else root / "annotations"
    splits = {"train_sub": train_ids, "minival": minival_ids}
    summary = dict(root=str(root), annotation_file=str(ann_file), out_dir=str(out_dir),
                   seed=seed, files={}, splits={})
    parts = {split: subset(gt, vids, dict(source=source, split=split, seed=seed,
                                          minival_videos=minival_videos))
             for split, vids in splits.items()}
    valid_file = find_valid_annotations(root)
    if valid_file is not None:  # the official valid split: its video list, for `objprop test`
        valid = load_ytvis(valid_file)
        check_frames(valid, root / "valid" / "JPEGImages", check_images)
        parts["valid"] = dict(valid, info=dict(valid.get("info") or {}, split="valid",
                                               source=valid_file.relative_to(root).as_posix()))
    for split, part in parts.items():  # every check passed: now write
        path = write_json_atomic(part, out_dir / OUTPUT_FILES[split])
        summary["files"][split] = str(path)
        summary["splits"][split] = summarize(part)
    return summary


def find_valid_annotations(root):
    """The official valid split's file (2019 ``valid.json``, 2021 ``valid/instances.json``:
    videos and categories, no public annotations), or None."""
    for name in VALID_CANDIDATES:
        if (Path(root) / name).is_file():
            return Path(root) / name
    return None


def format_summary(summary):
    """The summary as a small table: videos, frames and instances per class per split."""
    splits = summary["splits"]
    names = list(next(iter(splits.values()))["per_class"])
    width = max([len("instances")] + [len(n) for n in names])
    header = f"{'':<{width}}  " + "  ".join(f"{s:>10}" for s in splits)
    rows = [f"{key:<{width}}  " + "  ".join(f"{splits[s][key]:>10}" for s in splits)
            for key in ("videos", "frames", "instances")]
    rows += [f"{n:<{width}}  " + "  ".join(f"{splits[s]['per_class'][n]:>10}" for s in splits)
             for n in names]
    files = "\n".join(f"  {k}: {v}" for k, v in summary["files"].items())
    return (f"YouTube-VIS at {summary['root']} (annotations {summary['annotation_file']}, "
            f"seed {summary['seed']})\n{header}\n" + "\n".join(rows) + f"\nwrote:\n{files}")


def build_parser():
    p = argparse.ArgumentParser(prog="prepare_youtube_vis", description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="YouTube-VIS folder (official layout)")
    p.add_argument("--out", help="output folder (default: ROOT/annotations)")
    p.add_argument("--minival-videos", type=int,
                   help="videos held out as mini-validation (default: 10%% of train)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-images", choices=IMAGE_CHECKS, default="header",
                   help="how hard to check the frame files (default: header)")
    return p


def main(argv=None):
    """``data_scripts/prepare_youtube_vis.py``: returns an exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        summary = prepare_youtube_vis(args.root, args.out, args.minival_videos, args.seed,
                                      args.check_images)
    except ObjPropError as exc:
        print(f"prepare_youtube_vis: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0
