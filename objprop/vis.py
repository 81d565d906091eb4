"""Overlays for the book's figures: masks, boxes, class names and track ids on frames.

A track keeps one colour across a video (``track_colour`` depends on the id only), so a
reader sees at a glance when an identity switches or an instance drops out. Masks that
ObjProp filled by propagation (``filled``) are drawn differently (dashed white outline, a
"prop" tag), because the book's point is to show which frames the propagation saved.
Pure numpy + Pillow (+ matplotlib for grids): no cv2 GUI, no display needed.
"""
import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .data.ytvis import decode_segmentation, mask_to_bbox, xywh_to_xyxy
from .io import atomic_path

GOLDEN = 0.618033988749895
FILLED_OUTLINE = (255, 255, 255)


def track_colour(track_id):
    """A stable RGB colour for a track id: hues spaced by the golden ratio, so consecutive
    ids are far apart; saturation/value alternate to separate ids whose hues come close."""
    k = int(track_id)
    hue = (0.05 + k * GOLDEN) % 1.0
    sat = (0.9, 0.65)[(k // 5) % 2]
    val = (0.95, 0.8)[(k // 10) % 2]
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, sat, val))


def read_frame(path):
    """A frame file as an RGB uint8 array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _outline(mask):
    """Boundary pixels of a binary mask (the mask minus its 4-neighbour erosion)."""
    m = np.pad(mask, 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def _dashed(points_mask, period=4):
    """Every other run of ``period`` pixels of a boundary, for dashed outlines."""
    yy, xx = np.indices(points_mask.shape)
    return points_mask & (((xx + yy) // period) % 2 == 0)


def _caption(k, labels, class_names, track_ids, scores, filled):
    parts = []
    if track_ids is not None:
        parts.append(f"#{int(track_ids[k])}")
    if labels is not None:
        lab = int(labels[k])
        parts.append(class_names[lab] if class_names is not None and lab < len(class_names)
                     else str(lab))
    if scores is not None:
        parts.append(f"{float(scores[k]):.2f}")
    if filled is not None and filled[k]:
        parts.append("prop")
    return " ".join(parts)


def _text(draw, xy, text, colour, size):
    """A caption on a box of the instance's colour, kept inside the image."""
    font = ImageFont.load_default()
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    w, h = x1 - x0 + 2, y1 - y0 + 2
    x = int(min(max(xy[0], 0), max(size[0] - w, 0)))
    y = int(min(max(xy[1] - h, 0), max(size[1] - h, 0)))
    draw.rectangle([x, y, x + w, y + h], fill=colour)
    dark = sum(colour) < 380
    draw.text((x + 1 - x0, y + 1 - y0), text, fill=(255, 255, 255) if dark else (0, 0, 0),
              font=font)


def draw_instances(frame_rgb, masks, boxes=None, labels=None, class_names=None,
                   track_ids=None, scores=None, filled=None, alpha=0.45):
    """Overlay instances on a copy of an RGB frame; returns a uint8 (H, W, 3) array.

    ``masks``: (n, H, W) bool or a list with ``None`` for instances without a mask;
    ``boxes``: (n, 4) x1 y1 x2 y2 (default: the masks' boxes); ``labels`` index into
    ``class_names``; ``track_ids`` pick the colours (default: the instance's position);
    ``filled[k]`` marks an instance filled by propagation.
    """
    img = np.asarray(frame_rgb, dtype=np.float32).copy()
    n = len(masks) if masks is not None else len(boxes)
    masks = [None if m is None else np.asarray(m, bool)
             for m in (masks if masks is not None else [None] * n)]
    colours = [track_colour(track_ids[k] if track_ids is not None else k) for k in range(n)]
    corners = []
    for k, m in enumerate(masks):
        if m is not None:
            img[m] = (1 - alpha) * img[m] + alpha * np.array(colours[k], np.float32)
        box = _instance_box(k, m, boxes)
        if box is None:
            corners.append(None)
            continue
        edge = _box_edge(img.shape[:2], box)
        if m is not None:
            edge |= _outline(m)
        if filled is not None and filled[k]:
            img[_dashed(edge)] = FILLED_OUTLINE
        else:
            img[edge] = colours[k]
        corners.append((float(box[0]), float(box[1])))
    out = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for k, corner in enumerate(corners):
        text = _caption(k, labels, class_names, track_ids, scores, filled)
        if corner is not None and text:
            _text(draw, corner, text, colours[k], out.size)
    return np.asarray(out)


def _instance_box(k, mask, boxes):
    """x1 y1 x2 y2 of instance k: the given box, else its mask's; None if neither."""
    if boxes is not None:
        return boxes[k][:4]
    xywh = None if mask is None else mask_to_bbox(mask)
    return None if xywh is None else xywh_to_xyxy(xywh)


def _box_edge(shape, box):
    """The one-pixel outline of an x1 y1 x2 y2 box (x2, y2 exclusive), clipped to shape."""
    h, w = shape
    x1, y1 = max(int(np.floor(float(box[0]))), 0), max(int(np.floor(float(box[1]))), 0)
    x2 = min(int(np.ceil(float(box[2]))), w) - 1
    y2 = min(int(np.ceil(float(box[3]))), h) - 1
    edge = np.zeros(shape, bool)
    if x1 > x2 or y1 > y2:
        return edge
    edge[y1:y2 + 1, [x1, x2]] = True
    edge[[y1, y2], x1:x2 + 1] = True
    return edge


def draw_video_results(frames, instances, class_names=None, categories=None,
                       score_thr=0.0):
    """Draw one video's instances on each of its frames; returns a list of arrays.

    ``instances`` are YouTube-VIS results (``score``, optional ``filled`` and
    ``track_id``) or ground-truth annotations (their ``id`` is the track id), all of the
    same video. ``categories`` (the file's list) maps ``category_id`` to a label index
    into ``class_names`` (default: names from ``categories``).
    """
    categories = categories or []
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    if class_names is None and categories:
        class_names = [c["name"] for c in categories]
    keep = [r for r in instances if r.get("score", 1.0) >= score_thr]
    out = []
    for f, frame in enumerate(frames):
        h, w = np.asarray(frame).shape[:2]
        masks, labels, tids, scores, filled = [], [], [], [], []
        for k, r in enumerate(keep):
            m = decode_segmentation(r["segmentations"][f], h, w)
            if m is None or not m.any():
                continue
            masks.append(m)
            labels.append(cat_index.get(r["category_id"], r["category_id"]))
            tids.append(r.get("track_id", r.get("id", k)))
            scores.append(r.get("score"))
            filled.append(bool(r.get("filled", [False] * len(frames))[f]))
        out.append(draw_instances(
            frame, masks, labels=labels, class_names=class_names, track_ids=tids,
            scores=None if any(s is None for s in scores) else scores, filled=filled))
    return out


def frame_grid(rows_of_images, row_titles=None, col_titles=None, cell_width=2.4):
    """A matplotlib Figure laying out rows of frames (the paper's Figures 1 and 4: one row
    per method or video, one column per frame)."""
    import matplotlib.pyplot as plt
    nrows, ncols = len(rows_of_images), max(len(r) for r in rows_of_images)
    h, w = np.asarray(rows_of_images[0][0]).shape[:2]
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(cell_width * ncols, cell_width * nrows * h / w + 0.4))
    for i in range(nrows):
        for j in range(ncols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(rows_of_images[i]):
                ax.imshow(rows_of_images[i][j])
            else:
                ax.set_axis_off()
            if i == 0 and col_titles is not None and j < len(col_titles):
                ax.set_title(str(col_titles[j]), fontsize=8)
            if j == 0 and row_titles is not None and i < len(row_titles):
                ax.set_ylabel(str(row_titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def save_overlay_frame(dataset, video_index, frame_index, out, folder):
    """Draw a model's output for one frame (``objprop test --show``) and write it as
    ``folder/<video>/<frame:05d>.png``; returns the path."""
    video = dataset.vid_infos[video_index]
    name = video["file_names"][frame_index]
    frame = read_frame(Path(dataset.img_prefix or "") / name)
    boxes = out.get("bboxes")
    img = draw_instances(frame, out["masks"], boxes=None if boxes is None else np.asarray(boxes),
                         labels=out.get("labels"), class_names=dataset.CLASSES,
                         track_ids=out.get("track_ids"), scores=out.get("scores"),
                         filled=out.get("filled"))
    video_dir = Path(name).parent.name or str(video["id"])
    path = Path(folder) / video_dir / f"{frame_index:05d}.png"
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return path


def video_rows(gt, img_prefix, video_id, frame_indices, tracks_by_row, score_thr=0.0):
    """Rows of drawn frames for one video, the paper's Figure 1/4 layout.

    The first row is the input frames; then one row per entry of ``tracks_by_row`` (an
    ordered ``{title: list of tracks}``: YouTube-VIS results of a method, or the video's
    ground-truth annotations), restricted to this video. Returns ``(rows, titles)`` for
    :func:`frame_grid`.
    """
    video = next((v for v in gt["videos"] if v["id"] == video_id), None)
    if video is None:
        raise ValueError(f"video {video_id} is not in the ground truth")
    frames = [read_frame(Path(img_prefix) / name) for name in video["file_names"]]
    rows, titles = [[frames[f] for f in frame_indices]], ["input"]
    for title, tracks in tracks_by_row.items():
        mine = [t for t in tracks if t["video_id"] == video_id]
        drawn = draw_video_results(frames, mine, categories=gt["categories"],
                                   score_thr=score_thr)
        rows.append([drawn[f] for f in frame_indices])
        titles.append(title)
    return rows, titles


def showcase_frames(video, n=5):
    """``n`` frame indices of a video centred on its first hard frame (ToyVIS's
    ``hard_frames``), else evenly spread: the frames a figure should show."""
    length = video["length"]
    n = min(n, length)
    hard = sorted(int(k) for k in video.get("hard_frames", {}))
    if not hard:
        return [int(round(i * (length - 1) / max(n - 1, 1))) for i in range(n)]
    start = min(max(hard[0] - n // 2, 0), length - n)
    return list(range(start, start + n))


def coco_image_rows(gt, img_prefix, n=4):
    """The first ``n`` images of a COCO instance file (ToyCOCO's) as two rows for
    :func:`frame_grid`: the image, then its ground-truth masks with class names. Returns
    ``(rows, titles, image file names)``."""
    names = [c["name"] for c in gt["categories"]]
    index = {c["id"]: k for k, c in enumerate(gt["categories"])}
    images = gt["images"][:n]
    inputs, drawn = [], []
    for img in images:
        frame = read_frame(Path(img_prefix) / img["file_name"])
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        masks = [decode_segmentation(a["segmentation"], img["height"], img["width"])
                 for a in anns]
        inputs.append(frame)
        drawn.append(draw_instances(frame, masks, labels=[index[a["category_id"]]
                                                          for a in anns], class_names=names))
    return [inputs, drawn], ["image", "ground truth"], [img["file_name"] for img in images]
