"""Real YouTube-VIS: check the official layout, carve a train / mini-validation split.

The official validation sets ship without ground truth (scores come from a server), but
the paper's oracle study needs ground truth on held-out videos. As the paper does, a
mini-validation split is carved out of the train set: a fixed, seeded draw of videos, so
everyone who runs this gets the same split.

Accepted layouts under ``ROOT``::

    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/train.json             (2019)
    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/train/instances.json   (2021)
    ROOT/train/<video>/<frame>.jpg             +  ROOT/annotations_train.json (OVIS)
    ROOT/train/JPEGImages/<video>/<frame>.jpg  +  ROOT/annotations/instances_train.json
                                                              (ToyVIS / already converted)

(:data:`LAYOUTS`; the number of categories comes from the annotation file: 40 for either
YouTube-VIS, a different set each year, 25 for OVIS; the configs of each data set say the
same, and training and testing refuse a config whose detector has another number.)
Writes ``OUT/instances_train_sub.json`` and ``OUT/instances_minival.json`` (``OUT``
defaults to ``ROOT/annotations``, where ``objprop.config`` looks for the ``train_sub`` and
``minival`` splits; both use the train frames), and, when the official valid split is there
(``valid.json``, ``valid/instances.json`` or ``annotations_valid.json`` with its frames),
its video list as ``OUT/instances_valid.json``, so that
``objprop test --split valid --out X.zip`` runs on it (its ground truth is not public:
scores come from the evaluation server). Nothing is written
unless every check passes, and each file is written under a temporary name then renamed.
"""
from pathlib import Path

import numpy as np

from ..errors import ObjPropError
from ..io import write_json_atomic
from .ytvis import load_ytvis, summarize

# (layout, train annotations, train frames, valid annotations, valid frames), first match wins
LAYOUTS = (
    ("YouTube-VIS 2019", "train.json", "train/JPEGImages", "valid.json", "valid/JPEGImages"),
    ("YouTube-VIS 2021", "train/instances.json", "train/JPEGImages", "valid/instances.json",
     "valid/JPEGImages"),
    ("OVIS", "annotations_train.json", "train", "annotations_valid.json", "valid"),
    ("converted", "annotations/instances_train.json", "train/JPEGImages", None, None),
)
ANNOTATION_CANDIDATES = tuple(layout[1] for layout in LAYOUTS)
OUTPUT_FILES = {"train_sub": "instances_train_sub.json", "minival": "instances_minival.json",
                "valid": "instances_valid.json"}
IMAGE_CHECKS = ("exists", "header", "decode")
MINIVAL_FRACTION = 0.1


def find_layout(root):
    """The layout of ``root``: the first of :data:`LAYOUTS` whose train annotation file is
    there, as (name, train annotations, train frames, valid annotations, valid frames) paths."""
    root = Path(root)
    for name, ann, frames, valid, valid_frames in LAYOUTS:
        if (root / ann).is_file():
            return (name, root / ann, root / frames, valid and root / valid,
                    valid_frames and root / valid_frames)
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
    if not (root / "train").is_dir():
        raise ObjPropError("not a YouTube-VIS or OVIS folder: no train/ (frames)", path=root)
    layout, ann_file, frame_dir, valid_file, valid_frames = find_layout(root)
    if not frame_dir.is_dir():
        raise ObjPropError(f"not a {layout} folder: no {frame_dir.relative_to(root)}/",
                           path=root)
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
    summary = dict(root=str(root), layout=layout, annotation_file=str(ann_file),
                   out_dir=str(out_dir), seed=seed, files={}, splits={},
                   categories=len(gt["categories"]))
    parts = {split: subset(gt, vids, dict(source=source, split=split, seed=seed,
                                          minival_videos=minival_videos))
             for split, vids in splits.items()}
    if valid_file is not None and valid_file.is_file():
        # the official valid split: its video list, for `objprop test`
        valid = load_ytvis(valid_file)
        check_frames(valid, valid_frames, check_images)
        parts["valid"] = dict(valid, info=dict(valid.get("info") or {}, split="valid",
                                               source=valid_file.relative_to(root).as_posix()))
    for split, part in parts.items():  # every check passed: now write
        path = write_json_atomic(part, out_dir / OUTPUT_FILES[split])
        summary["files"][split] = str(path)
        summary["splits"][split] = summarize(part)
    return summary


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
    return (f"{summary['layout']} at {summary['root']} (annotations "
            f"{summary['annotation_file']}, {summary['categories']} categories, "
            f"seed {summary['seed']})\n{header}\n" + "\n".join(rows) + f"\nwrote:\n{files}")


def add_prepare_arguments(p):
    """Flags of ``objprop prepare`` (and ``data_scripts/prepare_youtube_vis.py``)."""
    p.add_argument("--root", required=True, help="YouTube-VIS / OVIS folder (official layout)")
    p.add_argument("--out", help="output folder (default: ROOT/annotations)")
    p.add_argument("--minival-videos", type=int,
                   help="videos held out as mini-validation (default: 10%% of train)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-images", choices=IMAGE_CHECKS, default="header",
                   help="how hard to check the frame files (default: header)")
    return p


def run_from_args(args):
    """What ``objprop prepare`` runs once its flags are parsed."""
    summary = prepare_youtube_vis(args.root, args.out, args.minival_videos, args.seed,
                                  args.check_images)
    print(format_summary(summary))
    return summary

