"""ToyVIS: the embedded synthetic video-instance-segmentation data set.

The book has to run end to end on a laptop without downloading YouTube-VIS, and still show
the problem ObjProp solves: a per-frame detector that loses objects on some frames while
the objects are plainly still there. ToyVIS is built for that:

* five categories (disc, square, triangle, star, ring), each with its own shape, colour and
  texture, on textured backgrounds that differ per video (gradients, stripes, blobs,
  checks) and pan slowly;
* 2-5 instances a video moving smoothly (constant velocity + small acceleration), growing
  or shrinking, spinning, crossing each other (occlusion) and entering or leaving the
  frame;
* about 12 % of the frames (never frame 0, in runs of 1-3 frames) made hard on purpose:
  strong blur, contrast collapsed toward the frame's mean, or a bar covering most of one
  object. ``video["hard_frames"]`` says which, so the book can show them.

It is written in the official YouTube-VIS layout (``DIR/{train,valid}/JPEGImages/<video>/
<frame:05d>.jpg`` + ``DIR/annotations/instances_{train,valid}.json``), with ground truth
for both splits, so everything downstream treats it exactly like the real data.

Ground truth ``segmentations`` are the VISIBLE part of each instance, after occlusion by
instances (and bars) in front, as RLE with string counts; a frame where fewer than
``min_visible_pixels`` of an instance are visible (out of frame, hidden) is ``None``.

Deterministic: each video draws from its own generator seeded by (seed, split, index), so
the same seed writes the same bytes, and adding videos does not change existing ones.
"""
import json
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import ImageFilter

from ..errors import ObjPropError
from . import synth
from .ytvis import encode_mask, mask_to_bbox, summarize

CATEGORIES = [  # colour (RGB), texture: distinct on every axis a detector could use
    dict(id=1, name="disc", colour=(220, 55, 45), texture="shaded"),
    dict(id=2, name="square", colour=(45, 95, 225), texture="stripes"),
    dict(id=3, name="triangle", colour=(40, 185, 70), texture="dots"),
    dict(id=4, name="star", colour=(240, 200, 35), texture="checks"),
    dict(id=5, name="ring", colour=(205, 60, 205), texture="spokes"),
]
# "tune": videos used neither for training nor for the reported numbers, on which test-time
# settings (e.g. the fill rule) are chosen; appended last so the other splits keep their bytes
SPLITS = ("train", "valid", "tune")
HARD_KINDS = ("blur", "low_contrast", "occlusion")
HARD_FRACTION = 0.12
# Videos per split. valid: 30, the smallest size at which drawing the split alone moves the
# paired mAP difference ObjProp − MaskTrack R-CNN by at most half of what the training seed
# moves it (measured 2026-11-25 with report.bootstrap_ap on the 15-video split, seed 0,
# 100 draws: ± 1.8 at 15 videos, ± 1.3 at 30, ± 1.1 at 60, against ± 2.9 between seeds 0-2);
# 60 would cost twice the inference of every chapter for 0.2 points. The evaluation chapter
# re-measures the rule on every build (report.split_size_sentence).
DEFAULT_VIDEOS = dict(train=60, valid=30, tune=15)
REQUEST_FILE = "toyvis-request.json"  # what wrote the folder; ensure_toyvis compares it
REFERENCE_SIZE = 160.0  # object sizes and speeds are given for min(height, width) = 160


# --------------------------------------------------------------------------- motion

@dataclass
class Instance:
    """One object's trajectory: where it is, how large and how turned at any frame.

    Anchored at ``anchor_frame`` (where it is inside the frame); before and after it
    drifts with velocity + acceleration, so some instances enter or leave the frame.
    """
    category: int           # index into CATEGORIES
    colour: np.ndarray      # RGB, the category's colour with a small per-instance shift
    anchor_frame: int
    anchor: np.ndarray      # (x, y) at anchor_frame
    velocity: np.ndarray    # px / frame
    accel: np.ndarray       # px / frame²
    radius: float           # at anchor_frame
    growth: float           # relative scale change per frame
    angle: float
    spin: float             # rad / frame
    r_min: float
    r_max: float

    def state(self, t):
        dt = t - self.anchor_frame
        pos = self.anchor + self.velocity * dt + 0.5 * self.accel * dt * dt
        r = float(np.clip(self.radius * math.exp(self.growth * dt), self.r_min, self.r_max))
        return pos, r, self.angle + self.spin * dt


# written into every annotation file's ``info``; training runs are reused only for the same
# version (``objprop.training.content_fingerprint``): bump it whenever the generator's output
# changes
GENERATOR_VERSION = "1.0"

def _sample_instances(rng, n_frames, h, w):
    """2-5 instances; often two of them cross at a shared anchor (an occlusion event)."""
    s = min(h, w) / REFERENCE_SIZE
    out = []
    for _ in range(int(rng.integers(2, 6))):
        cat = int(rng.integers(len(CATEGORIES)))
        r = float(rng.uniform(13, 30)) * s
        fast = rng.random() < 0.3
        speed = float(rng.uniform(3.0, 5.0) if fast else rng.uniform(0.4, 3.0)) * s
        heading = float(rng.uniform(0, 2 * math.pi))
        colour = np.clip(np.array(CATEGORIES[cat]["colour"], np.float32) +
                         rng.uniform(-18, 18, 3).astype(np.float32), 0, 255)
        out.append(Instance(
            category=cat, colour=colour, anchor_frame=int(rng.integers(n_frames)),
            anchor=np.array([rng.uniform(r, w - r), rng.uniform(r, h - r)]),
            velocity=speed * np.array([math.cos(heading), math.sin(heading)]),
            accel=rng.normal(0, 0.06, 2) * s, radius=r, growth=float(rng.uniform(-.03, .03)),
            angle=float(rng.uniform(0, 2 * math.pi)), spin=float(rng.uniform(-.08, .08)),
            r_min=9.5 * s, r_max=35 * s))
    if rng.random() < 0.6:  # make two of them meet: one passes in front of the other
        a, b = rng.choice(len(out), 2, replace=False)
        out[b].anchor_frame = out[a].anchor_frame
        out[b].anchor = out[a].anchor + rng.uniform(-0.3, 0.3, 2) * out[a].radius
    return out


# --------------------------------------------------------------------------- hard frames

def _pick_hard_frames(rng, n_frames):
    """``{frame: kind}``: ~12 % of frames, runs of 1-3, never frame 0, runs apart."""
    target = max(1, round(HARD_FRACTION * n_frames)) if n_frames >= 4 else 0
    hard = {}
    for _ in range(50):
        if len(hard) >= target:
            break
        length = min(int(rng.integers(1, 4)), target - len(hard))
        start = int(rng.integers(1, n_frames - length + 1))
        span = range(start - 1, start + length + 1)
        if any(f in hard for f in span):
            continue
        kind = HARD_KINDS[int(rng.integers(len(HARD_KINDS)))]
        hard.update({f: kind for f in range(start, start + length)})
    return hard


def _occluder(rng, visible, h, w):
    """A bar (full height or width) hiding 70-90 % of the most visible instance; ``None``
    when nothing is visible."""
    areas = [0 if m is None else int(m.sum()) for m in visible]
    if not any(areas):
        return None
    x, y, bw, bh = mask_to_bbox(visible[int(np.argmax(areas))])
    cover = rng.uniform(0.7, 0.9)
    bar = np.zeros((h, w), bool)
    if rng.random() < 0.5:
        x0 = int(x + rng.uniform(0, 1 - cover) * bw)
        bar[:, x0:x0 + max(2, int(round(cover * bw)))] = True
    else:
        y0 = int(y + rng.uniform(0, 1 - cover) * bh)
        bar[y0:y0 + max(2, int(round(cover * bh))), :] = True
    return bar


# --------------------------------------------------------------------------- one video

def _render_video(rng, n_frames, h, w, min_visible):
    """Frames (uint8 RGB), per-instance visible masks per frame, hard frames."""
    insts = _sample_instances(rng, n_frames, h, w)
    order = np.argsort(rng.permutation(len(insts)))  # back to front
    pan = rng.uniform(-0.8, 0.8, 2)
    pad = int(math.ceil(0.8 * n_frames)) + 1
    backdrop = synth.background(rng, h + 2 * pad, w + 2 * pad)
    hard = _pick_hard_frames(rng, n_frames)
    frames, visible = [], [[None] * n_frames for _ in insts]
    for t in range(n_frames):
        ox, oy = (pad + np.round(pan * t)).astype(int)
        canvas = backdrop[oy:oy + h, ox:ox + w].copy()
        vis = synth.composite(canvas, [(CATEGORIES[i.category], i.colour, *i.state(t))
                                       for i in insts], order)
        kind = hard.get(t)
        if kind == "occlusion":
            bar = _occluder(rng, vis, h, w)
            if bar is None:
                hard[t] = kind = "blur"
            else:
                canvas[bar] = rng.uniform(40, 90) + rng.normal(0, 6, (int(bar.sum()), 1))
                vis = [None if m is None else m & ~bar for m in vis]
        synth.expose(canvas, rng)
        if kind == "low_contrast":
            mean = canvas.mean(axis=(0, 1), keepdims=True)
            canvas = mean + (canvas - mean) * rng.uniform(0.08, 0.15)
        img = synth.to_image(canvas)
        if kind == "blur":
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(4.5, 6.0) * min(h, w) /
                                                      REFERENCE_SIZE))
        frames.append(img)
        for k, m in enumerate(vis):
            if m is not None and m.sum() >= min_visible:
                visible[k][t] = m
    return insts, frames, visible, hard


def _annotations(insts, visible, video_id, first_ann_id, h, w):
    """YouTube-VIS annotations of one video (instances never visible are dropped)."""
    anns = []
    for inst, masks in zip(insts, visible):
        if all(m is None for m in masks):
            continue
        anns.append(dict(
            id=first_ann_id + len(anns), video_id=video_id,
            category_id=CATEGORIES[inst.category]["id"], iscrowd=0, height=h, width=w,
            segmentations=[None if m is None else encode_mask(m) for m in masks],
            bboxes=[None if m is None else mask_to_bbox(m) for m in masks],
            areas=[None if m is None else int(m.sum()) for m in masks]))
    return anns


# --------------------------------------------------------------------------- writing

def _frame_range(frames):
    """``16``, ``(12, 24)``, ``"16"``, ``"12-24"`` or ``"12,24"`` → (lo, hi)."""
    try:
        if isinstance(frames, str):
            parts = frames.replace(",", "-").split("-")
            lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
        elif isinstance(frames, (int, np.integer)):
            lo = hi = int(frames)
        else:
            lo, hi = (int(x) for x in frames)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or not 2 <= lo <= hi:
        raise ObjPropError(f"frames must be N or LO-HI with 2 <= LO <= HI, got {frames!r}")
    return lo, hi


def min_visible_pixels(h, w):
    """Fewer visible pixels than this and an instance counts as absent (out of the image,
    hidden): 10 at the reference size, scaled with the area."""
    return max(4, round(10 * (min(h, w) / REFERENCE_SIZE) ** 2))


def _write_split(folder, split, seed, n_videos, frame_range, h, w, bar=None):
    """Render one split's videos into ``folder`` (JPEGImages); returns its ground truth."""
    split_code = SPLITS.index(split)
    min_visible = min_visible_pixels(h, w)
    videos, anns = [], []
    for i in range(n_videos):
        rng = np.random.default_rng([seed, split_code, i])
        n = int(rng.integers(frame_range[0], frame_range[1] + 1))
        name = f"{split}_{i:04d}"
        insts, frames, visible, hard = _render_video(rng, n, h, w, min_visible)
        (folder / name).mkdir(parents=True)
        for t, img in enumerate(frames):
            synth.save_jpeg(img, folder / name / f"{t:05d}.jpg")
        videos.append(dict(id=i + 1, width=w, height=h, length=n,
                           file_names=[f"{name}/{t:05d}.jpg" for t in range(n)],
                           hard_frames={str(t): k for t, k in sorted(hard.items())}))
        anns.extend(_annotations(insts, visible, i + 1, len(anns) + 1, h, w))
        if bar is not None:
            bar.update(1)
    return dict(
        info=dict(description="ToyVIS: synthetic video instance segmentation (objprop)",
                  version=GENERATOR_VERSION, seed=seed, split=split),
        licenses=[],
        categories=[dict(id=c["id"], name=c["name"], supercategory="shape")
                    for c in CATEGORIES],
        videos=videos, annotations=anns)


def make_toyvis(out_dir, seed=0, train_videos=DEFAULT_VIDEOS["train"],
                valid_videos=DEFAULT_VIDEOS["valid"], frames=(12, 24), height=160, width=288,
                progress=True, tune_videos=DEFAULT_VIDEOS["tune"]):
    """Write ToyVIS into ``out_dir`` (official layout); returns a summary dict.

    Written by :func:`objprop.data.synth.write_splits`: staged, then moved into place, so an
    interrupted run leaves no half-written split.
    """
    frame_range = _frame_range(frames)
    if min(height, width) < 32:
        raise ObjPropError(f"frames must be at least 32x32, got {height}x{width}")
    if train_videos < 1 or valid_videos < 1 or tune_videos < 0:
        raise ObjPropError("ToyVIS needs at least one train and one valid video")
    from tqdm import tqdm
    t0 = time.time()
    out = Path(out_dir)
    counts = dict(train=train_videos, valid=valid_videos, tune=tune_videos)
    splits = [s for s in SPLITS if counts[s]]  # no tune split when tune_videos=0
    with tqdm(total=sum(counts.values()), unit="video", desc="ToyVIS",
              disable=not progress) as bar:
        render = {s: partial(_write_split, split=s, seed=seed, n_videos=counts[s],
                             frame_range=frame_range, h=height, w=width, bar=bar)
                  for s in splits}
        gts = synth.write_splits(out, "toyvis", render, REQUEST_FILE,
                                 _request(seed, counts, frame_range, height, width), SPLITS)
    return dict(out=str(out), seed=seed, height=height, width=width,
                frames=list(frame_range), seconds=round(time.time() - t0, 2),
                categories=[c["name"] for c in CATEGORIES],
                splits={s: summarize(gts[s]) for s in splits})


def _request(seed, counts, frame_range, height, width):
    return dict(version=GENERATOR_VERSION, seed=seed, videos=counts,
                frames=list(frame_range), height=height, width=width)


def ensure_toyvis(out_dir, seed=0, train_videos=DEFAULT_VIDEOS["train"],
                  valid_videos=DEFAULT_VIDEOS["valid"], frames=(12, 24), height=160, width=288,
                  progress=True, tune_videos=DEFAULT_VIDEOS["tune"]):
    """ToyVIS in ``out_dir`` as requested: reused when the folder was written by the same
    request (generator version, seed, videos per split, frames, size) and every split's
    annotation file is there, else (re)written by :func:`make_toyvis`. Returns
    ``(summary or None, written)``. Rewriting with the same seed keeps every existing
    video's bytes, so a grown split leaves the training split, and the runs trained on it,
    as they were."""
    out = Path(out_dir)
    counts = dict(train=train_videos, valid=valid_videos, tune=tune_videos)
    want = _request(seed, counts, _frame_range(frames), height, width)
    if synth.holds_request(out, REQUEST_FILE, want, [s for s in SPLITS if counts[s]]):
        return None, False
    return make_toyvis(out, seed=seed, train_videos=train_videos, valid_videos=valid_videos,
                       tune_videos=tune_videos, frames=frames, height=height, width=width,
                       progress=progress), True


# --------------------------------------------------------------------------- command line

def add_toyvis_arguments(p):
    """Flags of ``objprop make-toyvis`` and ``data_scripts/make_toyvis.py``."""
    p.add_argument("--out", required=True, help="folder to write (official layout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-videos", type=int, default=DEFAULT_VIDEOS["train"])
    p.add_argument("--valid-videos", type=int, default=DEFAULT_VIDEOS["valid"])
    p.add_argument("--tune-videos", type=int, default=DEFAULT_VIDEOS["tune"],
                   help="videos of the tuning split (settings are chosen there; 0: none)")
    p.add_argument("--frames", default="12-24", help="frames per video: N or LO-HI")
    p.add_argument("--height", type=int, default=160)
    p.add_argument("--width", type=int, default=288)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="rewrite even if the folder already holds this request")
    return p


def format_summary(summary):
    lines = [f"ToyVIS (seed {summary['seed']}, {summary['height']}x{summary['width']}) "
             f"written to {summary['out']} in {summary['seconds']:.1f} s"]
    for split, s in summary["splits"].items():
        per = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
        lines.append(f"  {split}: {s['videos']} videos, {s['frames']} frames "
                     f"({s['hard_frames']} hard), {s['instances']} instances ({per})")
    return "\n".join(lines)


def run_from_args(args):
    """What ``objprop make-toyvis`` runs once its flags are parsed: writes the data unless
    the folder already holds the same request (``--force`` rewrites it anyway)."""
    request = dict(seed=args.seed, train_videos=args.train_videos,
                   valid_videos=args.valid_videos, tune_videos=args.tune_videos,
                   frames=args.frames, height=args.height, width=args.width,
                   progress=not args.quiet)
    if args.force:
        summary = make_toyvis(args.out, **request)
    else:
        summary, written = ensure_toyvis(args.out, **request)
        if not written:
            print(f"ToyVIS in {args.out} is up to date (same request; --force rewrites it)")
            return None
    print(format_summary(summary))
    return summary

