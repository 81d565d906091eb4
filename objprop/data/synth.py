"""Drawing and writing shared by the synthetic data sets: ToyVIS's videos
(:mod:`objprop.data.toyvis`) and ToyCOCO's still images (:mod:`objprop.data.toycoco`).

Shapes and textures are given in an object's own unit frame ``(u, v)`` (the pixel offset from
its centre, turned by its angle and divided by its radius), so an object moves, turns and
scales with its pattern. A category is a dict with ``name`` (its shape), ``colour`` (RGB) and
``texture``. Everything here is deterministic given the generator passed in, so the data sets
keep their bytes for a seed.
"""
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import write_json_atomic

JPEG_QUALITY = 92


# --------------------------------------------------------------------------- shapes, textures

def inside_shape(name, u, v):
    """Inside test of shape ``name`` in the object's unit frame."""
    rho = np.hypot(u, v)
    if name == "disc":
        return rho <= 1.0
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85
    if name == "triangle":  # equilateral, inradius 0.58
        return ((v <= 0.58) & (-0.866 * u - 0.5 * v <= 0.58) &
                (0.866 * u - 0.5 * v <= 0.58))
    if name == "star":  # five points: radius 0.48 between points, 1.1 at them
        t = (np.arctan2(v, u) * 5 / (2 * math.pi)) % 1.0
        return rho <= 0.48 + 0.62 * np.abs(2 * t - 1)
    if name == "ring":
        return (rho >= 0.55) & (rho <= 1.0)
    # ToyCOCO's further shapes (the still images hold more categories than the videos)
    if name == "cross":  # two bars, 0.64 wide
        return ((np.abs(u) <= 0.32) & (np.abs(v) <= 0.95)) | \
            ((np.abs(v) <= 0.32) & (np.abs(u) <= 0.95))
    if name == "hexagon":  # regular, apothem 0.85
        return np.maximum(np.abs(u), np.maximum(np.abs(0.5 * u + 0.866 * v),
                                                np.abs(0.5 * u - 0.866 * v))) <= 0.85
    if name == "crescent":  # a disc less an offset disc
        return (rho <= 1.0) & (np.hypot(u - 0.45, v) > 0.8)
    if name == "heart":  # (x² + y² - 1)³ <= x² y³, point down
        x, y = 1.25 * u, 0.25 - 1.25 * v
        return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    if name == "diamond":  # a rhombus, longer along v
        return np.abs(u) / 0.65 + np.abs(v) <= 1.0
    if name == "ellipse":
        return u * u + (v / 0.55) ** 2 <= 1.0
    if name == "arrow":  # shaft and head, pointing along u
        return ((np.abs(v) <= 0.22) & (u >= -0.95) & (u <= 0.25)) | \
            ((u >= 0.2) & (u <= 1.0) & (np.abs(v) <= 0.75 * (1.0 - u)))
    raise ValueError(name)


def texture_gain(name, u, v):
    """Brightness factor per pixel, in the object's frame (moves and turns with it)."""
    if name == "shaded":
        return 1.15 - 0.45 * np.hypot(u, v)
    if name == "stripes":
        return np.where(np.sin(u * 3 * math.pi) > 0, 1.0, 0.55)
    if name == "dots":
        du, dv = (u * 2.5) % 1 - 0.5, (v * 2.5) % 1 - 0.5
        return np.where(du * du + dv * dv < 0.09, 1.35, 0.8)
    if name == "checks":
        return np.where((np.floor(u * 2.2) + np.floor(v * 2.2)) % 2 == 0, 1.0, 0.6)
    if name == "spokes":
        return np.where(np.sin(6 * np.arctan2(v, u)) > 0, 1.0, 0.6)
    # ToyCOCO's further textures
    if name == "rings":
        return np.where(np.sin(np.hypot(u, v) * 4 * math.pi) > 0, 1.0, 0.6)
    if name == "grid":
        return np.where((np.abs(np.sin(u * 2.5 * math.pi)) < 0.35) |
                        (np.abs(np.sin(v * 2.5 * math.pi)) < 0.35), 0.55, 1.0)
    if name == "waves":
        return np.where(np.sin(u * 3 * math.pi + 2 * np.sin(v * 3 * math.pi)) > 0, 1.0, 0.6)
    if name == "plain":
        return np.ones_like(u)
    if name == "diagonal":
        return np.where(np.sin((u + v) * 2.5 * math.pi) > 0, 1.0, 0.55)
    if name == "halves":
        return np.where(u > 0, 1.0, 0.55)
    raise ValueError(name)


# --------------------------------------------------------------------------- painting

def paint(canvas, category, colour, centre, radius, angle):
    """Draw one object of ``category`` onto ``canvas`` (float RGB, in place); returns its
    full mask (before occlusion) or ``None`` when it is wholly outside the image."""
    h, w = canvas.shape[:2]
    cx, cy = centre
    reach = 1.15 * radius
    x0, x1 = max(int(cx - reach), 0), min(int(math.ceil(cx + reach)) + 1, w)
    y0, y1 = max(int(cy - reach), 0), min(int(math.ceil(cy + reach)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    c, s = math.cos(angle), math.sin(angle)
    u, v = (c * dx + s * dy) / radius, (-s * dx + c * dy) / radius
    inside = inside_shape(category["name"], u, v)
    if not inside.any():
        return None
    shade = texture_gain(category["texture"], u, v)[inside][:, None]
    canvas[y0:y1, x0:x1][inside] = np.clip(colour[None, :] * shade, 0, 255)
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = inside
    return mask


def composite(canvas, objects, order):
    """Paint ``objects`` (each ``(category, colour, centre, radius, angle)``) back to front in
    ``order``; returns each one's VISIBLE mask (what the objects in front leave of it), or
    ``None`` for one outside the image, in the objects' own order."""
    full = [None] * len(objects)
    for k in order:
        full[k] = paint(canvas, *objects[k])
    covered = np.zeros(canvas.shape[:2], bool)
    visible = [None] * len(objects)
    for k in order[::-1]:  # front to back
        if full[k] is not None:
            visible[k] = full[k] & ~covered
            covered |= full[k]
    return visible


def low_freq_noise(rng, h, w, cells, channels=1):
    """Smooth noise in [-1, 1]: a coarse random grid resized bicubically (deterministic)."""
    grid = rng.uniform(-1, 1, (cells, max(2, cells * w // h), channels)).astype(np.float32)
    out = [np.asarray(Image.fromarray(grid[..., k], mode="F").resize((w, h),
                                                                     Image.BICUBIC))
           for k in range(channels)]
    return np.stack(out, axis=-1)


def background(rng, h, w):
    """A muted, textured backdrop (one of four kinds: gradient, stripes, colour blobs, soft
    checks), float RGB."""
    base = rng.uniform(70, 170) + rng.uniform(-25, 25, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(4)
    alpha = rng.uniform(0, math.pi)
    along = xx * math.cos(alpha) + yy * math.sin(alpha)
    if kind == 0:    # gradient
        pattern = (along / max(h, w) - 0.5)[..., None] * rng.uniform(40, 90)
    elif kind == 1:  # stripes
        pattern = np.sin(2 * math.pi * along / rng.uniform(10, 30))[..., None] * \
            rng.uniform(10, 25)
    elif kind == 2:  # colour blobs
        pattern = low_freq_noise(rng, h, w, int(rng.integers(3, 7)), 3) * 35
    else:            # soft checks
        cell = int(rng.integers(8, 24))
        pattern = ((((xx // cell) + (yy // cell)) % 2) * 2 - 1)[..., None] * \
            rng.uniform(8, 16)
    grain = low_freq_noise(rng, h, w, int(rng.integers(6, 14))) * 12
    return (base[None, None, :] + pattern + grain).astype(np.float32)


def expose(canvas, rng):
    """The camera: a small gain change and sensor noise, in place (every image of both data
    sets; the videos' hard frames add their degradations after it)."""
    canvas *= rng.uniform(0.95, 1.05)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * 3
    return canvas


def to_image(canvas):
    """Float RGB → 8-bit PIL image (rounded, clipped)."""
    return Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- writing

def save_jpeg(img, path):
    """Fixed quality and subsampling, no metadata: the same pixels give the same bytes."""
    img.save(path, format="JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=False)


def replace_dir(src, dst):
    """Move a finished folder into place, replacing an older one only once it is done."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old)


def write_splits(out, name, render, request_file, request, all_splits):
    """Write a data set's splits into ``out`` (the official layout) as one step that an
    interruption cannot leave half done; returns ``{split: ground truth}``.

    ``render`` maps each split to write to a function that draws its images into the folder
    it is given (``<split>/JPEGImages``) and returns the split's ground truth. Everything is
    rendered into a hidden staging folder inside ``out`` and moved into place at the end
    (image trees first, annotation files next, the request file last), so a split whose
    annotation file exists is complete, and the request file vouches for all of them.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-staging-", dir=out))
    try:
        gts = {s: draw(staging / s / "JPEGImages") for s, draw in render.items()}
        ann_dir = out / "annotations"
        (out / request_file).unlink(missing_ok=True)
        for s in all_splits:  # stale annotations must not vouch for new image trees
            (ann_dir / f"instances_{s}.json").unlink(missing_ok=True)
        for s in render:
            replace_dir(staging / s, out / s)
        for s in render:
            write_json_atomic(gts[s], ann_dir / f"instances_{s}.json")
        write_json_atomic(request, out / request_file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return gts


def holds_request(out, request_file, request, splits):
    """Whether ``out`` was written by ``request`` (its request file says so) and every split
    of ``splits`` has its annotation file: then it is reused as it is."""
    out = Path(out)
    try:
        have = json.loads((out / request_file).read_text())
    except (OSError, ValueError):
        return False
    return have == request and all((out / "annotations" / f"instances_{s}.json").is_file()
                                   for s in splits)
