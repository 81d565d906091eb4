"""ToyCOCO: still images from ToyVIS's generator, the toy world's COCO (the detector's
pretraining set, ``objprop pretrain``).

The paper fine-tunes a Mask R-CNN pre-trained on COCO; the toy detector starts from one
pre-trained on ToyCOCO. The shift from it to ToyVIS is the paper's kind:

* **clean images.** COCO's photos lack YouTube's motion blur and the detector meets video
  only when fine-tuned: ToyCOCO's images have the camera's gain and sensor noise but none
  of ToyVIS's hard frames (no blur, contrast collapse or covering bars);
* **more categories.** ToyVIS's five (same names, ids 1-5, colours and textures) and seven
  more shapes with textures of their own (ids 6-12), so that the class-dependent layers are
  re-sized on load (:mod:`objprop.checkpoint`) as COCO's 80 are for YouTube-VIS's 40;
* **other instances.** 2-6 objects an image at ToyVIS's sizes, anywhere (some cut by the
  border, as COCO's), often overlapping (the back one's mask is its visible part), on the
  same kinds of backdrop.

Images and instances are disjoint from every ToyVIS video: each image draws from its own
generator seeded by (:data:`RNG_DOMAIN`, seed, split, index), a seed sequence ToyVIS's
(seed, split, index) never equals, so no image repeats a video frame.

Written in COCO's instance format (``images``, ``annotations`` with an RLE ``segmentation``,
``bbox`` [x, y, w, h], ``area``, ``iscrowd``, ``categories``) in the project's layout
(``DIR/{train,valid}/JPEGImages/<image>.jpg`` + ``DIR/annotations/instances_{train,valid}.json``,
so that a config's data is re-pointed at it as at ToyVIS); ``valid`` is the held-out split
the pretraining is scored on. A folder is reused when written by the same request
(``toycoco-request.json``).
"""
import json
import math
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import ObjPropError
from . import synth
from .toyvis import CATEGORIES as TOYVIS_CATEGORIES
from .toyvis import REFERENCE_SIZE, min_visible_pixels
from .ytvis import encode_mask, mask_to_bbox

CATEGORIES = TOYVIS_CATEGORIES + [  # ToyVIS's five first, with their ids, then seven more
    dict(id=6, name="cross", colour=(245, 135, 20), texture="rings"),
    dict(id=7, name="hexagon", colour=(30, 195, 200), texture="grid"),
    dict(id=8, name="crescent", colour=(150, 95, 45), texture="waves"),
    dict(id=9, name="heart", colour=(245, 120, 165), texture="plain"),
    dict(id=10, name="diamond", colour=(225, 225, 225), texture="diagonal"),
    dict(id=11, name="ellipse", colour=(115, 135, 35), texture="halves"),
    dict(id=12, name="arrow", colour=(120, 70, 200), texture="stripes"),
]
SPLITS = ("train", "valid")
# 1000 training images, which the default pretraining (configs/mask_rcnn_r18_fpn_toycoco.py,
# batch 2) sees about three times each; 200 held-out images score box and mask AP. About
# 20 ms an image (most of it the backdrop), so 1200 images take half a minute on a shared core.
DEFAULT_IMAGES = dict(train=1000, valid=200)
REQUEST_FILE = "toycoco-request.json"
# written into every annotation file's ``info`` and the request; bump it whenever the
# generator's output changes (the pretrained checkpoint's cache key holds it)
GENERATOR_VERSION = "1.0"
# the first entry of every image's seed sequence: ToyVIS seeds its videos with (seed, split,
# index), so no ToyCOCO image shares a generator with a video
RNG_DOMAIN = 0x70C0C0


def _render_image(rng, h, w, min_visible):
    """One still image (PIL) and its objects' (category index, visible mask) pairs."""
    s = min(h, w) / REFERENCE_SIZE
    objects, cats = [], []
    for _ in range(int(rng.integers(2, 7))):
        cat = int(rng.integers(len(CATEGORIES)))
        r = float(rng.uniform(10, 34)) * s
        colour = np.clip(np.array(CATEGORIES[cat]["colour"], np.float32) +
                         rng.uniform(-18, 18, 3).astype(np.float32), 0, 255)
        centre = np.array([rng.uniform(0.3 * r, w - 0.3 * r), rng.uniform(0.3 * r, h - 0.3 * r)])
        objects.append([CATEGORIES[cat], colour, centre, r, float(rng.uniform(0, 2 * math.pi))])
        cats.append(cat)
    if rng.random() < 0.5:  # two of them overlap: one hides part of the other
        a, b = rng.choice(len(objects), 2, replace=False)
        objects[b][2] = objects[a][2] + rng.uniform(-0.6, 0.6, 2) * objects[a][3]
    order = rng.permutation(len(objects))  # back to front
    canvas = synth.background(rng, h, w)
    visible = synth.composite(canvas, objects, order)
    img = synth.to_image(synth.expose(canvas, rng))
    return img, [(c, m) for c, m in zip(cats, visible)
                 if m is not None and m.sum() >= min_visible]


def _write_split(folder, split, seed, n_images, h, w, bar=None):
    """Render one split's images into ``folder``; returns its COCO ground truth."""
    split_code = SPLITS.index(split)
    min_visible = min_visible_pixels(h, w)
    folder.mkdir(parents=True)
    images, anns = [], []
    for i in range(n_images):
        rng = np.random.default_rng([RNG_DOMAIN, seed, split_code, i])
        img, instances = _render_image(rng, h, w, min_visible)
        name = f"{split}_{i:06d}.jpg"
        synth.save_jpeg(img, folder / name)
        images.append(dict(id=i + 1, file_name=name, width=w, height=h))
        for cat, mask in instances:
            anns.append(dict(id=len(anns) + 1, image_id=i + 1,
                             category_id=CATEGORIES[cat]["id"], iscrowd=0,
                             segmentation=encode_mask(mask), bbox=mask_to_bbox(mask),
                             area=int(mask.sum())))
        if bar is not None:
            bar.update(1)
    return dict(
        info=dict(description="ToyCOCO: synthetic still-image instance segmentation "
                              "(objprop)", version=GENERATOR_VERSION, seed=seed, split=split),
        licenses=[],
        categories=[dict(id=c["id"], name=c["name"], supercategory="shape")
                    for c in CATEGORIES],
        images=images, annotations=anns)


def _request(seed, counts, height, width):
    return dict(version=GENERATOR_VERSION, seed=seed, images=counts, height=height,
                width=width)


def make_toycoco(out_dir, seed=0, train_images=DEFAULT_IMAGES["train"],
                 valid_images=DEFAULT_IMAGES["valid"], height=160, width=288, progress=True):
    """Write ToyCOCO into ``out_dir``; returns a summary dict (staged and moved into place
    by :func:`objprop.data.synth.write_splits`: an interrupted run leaves no half split)."""
    if min(height, width) < 32:
        raise ObjPropError(f"images must be at least 32x32, got {height}x{width}")
    if train_images < 1 or valid_images < 1:
        raise ObjPropError("ToyCOCO needs at least one train and one valid image")
    from tqdm import tqdm
    t0 = time.time()
    counts = dict(train=train_images, valid=valid_images)
    with tqdm(total=sum(counts.values()), unit="image", desc="ToyCOCO",
              disable=not progress) as bar:
        render = {s: partial(_write_split, split=s, seed=seed, n_images=counts[s], h=height,
                             w=width, bar=bar) for s in SPLITS}
        gts = synth.write_splits(out_dir, "toycoco", render, REQUEST_FILE,
                                 _request(seed, counts, height, width), SPLITS)
    return dict(out=str(out_dir), seed=seed, height=height, width=width,
                seconds=round(time.time() - t0, 2),
                categories=[c["name"] for c in CATEGORIES],
                splits={s: summarize(gt) for s, gt in gts.items()})


def ensure_toycoco(out_dir, seed=0, train_images=DEFAULT_IMAGES["train"],
                   valid_images=DEFAULT_IMAGES["valid"], height=160, width=288, progress=True):
    """ToyCOCO in ``out_dir`` as requested: reused when the folder was written by the same
    request (generator version, seed, images per split, size), else (re)written. Returns
    ``(summary or None, written)``. A folder that holds something else (files but no
    readable request file: another data set?) is refused in one line, never overwritten."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ObjPropError("ToyCOCO folder is a file", path=out)
    if out.is_dir() and any(p.name != REQUEST_FILE for p in out.iterdir()):
        request_of(out)   # refuses a foreign or garbled folder
    counts = dict(train=train_images, valid=valid_images)
    if synth.holds_request(out, REQUEST_FILE, _request(seed, counts, height, width),
                           SPLITS):
        for split in SPLITS:
            load_split(out, split)   # a damaged annotation file is one line
        return None, False
    return make_toycoco(out, seed=seed, train_images=train_images,
                        valid_images=valid_images, height=height, width=width,
                        progress=progress), True


def request_of(out_dir):
    """The request that wrote a ToyCOCO folder (its ``toycoco-request.json``); one line
    naming the folder when it is missing or garbled."""
    path = Path(out_dir) / REQUEST_FILE
    try:
        request = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ObjPropError(f"not a ToyCOCO folder (no readable {REQUEST_FILE}; it holds "
                           f"something else: pass an empty or ToyCOCO folder)",
                           path=out_dir) from None
    if not isinstance(request, dict) or request.get("version") is None:
        raise ObjPropError("not a ToyCOCO request file (no version)", path=path)
    return request


def load_split(out_dir, split):
    """One split's COCO ground truth, checked for COCO's top-level keys; one line naming the
    file when it is missing or garbled."""
    path = Path(out_dir) / "annotations" / f"instances_{split}.json"
    try:
        gt = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ObjPropError(f"unreadable ToyCOCO annotation file ({type(exc).__name__})",
                           path=path) from None
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(gt, dict) or not isinstance(gt.get(k), list)]
    if missing:
        raise ObjPropError(f"not a COCO instance file (no {', '.join(missing)})", path=path)
    return gt


def summarize(gt):
    """Images, instances and instances per category name of one split's ground truth."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    per_class = {n: 0 for n in names.values()}
    for a in gt["annotations"]:
        per_class[names[a["category_id"]]] += 1
    return dict(images=len(gt["images"]), instances=len(gt["annotations"]),
                categories=len(names), per_class=per_class)


def format_summary(summary):
    lines = [f"ToyCOCO (seed {summary['seed']}, {summary['height']}x{summary['width']}, "
             f"{len(summary['categories'])} categories) written to {summary['out']} in "
             f"{summary['seconds']:.1f} s"]
    for split, s in summary["splits"].items():
        lines.append(f"  {split}: {s['images']} images, {s['instances']} instances")
    return "\n".join(lines)
