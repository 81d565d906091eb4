"""YouTube-VIS files: load and validate ground truth and results, and the mask codecs.

Every other room reads annotation and results files through this module, so that a bad
file fails here, once, with one line naming the file and the offending item, instead of
as a KeyError deep inside training or evaluation. The same goes for masks: RLE (string or
list counts), polygons and ``None`` are turned into arrays by ``decode_segmentation`` and
nowhere else.

Ground truth (YouTube-VIS 2019 and 2021 share it)::

    {"videos": [{"id", "file_names", "length", "height", "width", ...}],
     "categories": [{"id", "name", ...}],
     "annotations": [{"id", "video_id", "category_id", "iscrowd",
                      "segmentations": [RLE | polygons | None per frame],
                      "bboxes": [[x, y, w, h] | None per frame],
                      "areas": [number | None per frame]}]}

Extra keys (ToyVIS's ``hard_frames``, 2021's ``license``...) are kept and ignored.
``annotations`` may be absent (the official validation sets ship without them).
"""
import json
from collections import defaultdict
from numbers import Number
from pathlib import Path

import numpy as np

from ..errors import ObjPropError

RESULT_KEYS = ("video_id", "category_id", "score", "segmentations")


# --------------------------------------------------------------------------- mask codecs

def encode_mask(mask):
    """Binary mask (h, w) → YouTube-VIS RLE ``{"size": [h, w], "counts": str}``.

    String counts (not bytes) so the result goes straight into JSON.
    """
    import pycocotools.mask as mask_utils
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode_mask expects a 2-D mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": rle["counts"].decode("ascii")}


def segmentation_kind(segm):
    """``"none"``, ``"rle"`` (str/bytes counts), ``"rle_list"`` (uncompressed), ``"polygon"``
    or ``"invalid"``: the one place that tells the formats apart."""
    if segm is None:
        return "none"
    if isinstance(segm, dict) and "counts" in segm and "size" in segm:
        return "rle_list" if isinstance(segm["counts"], list) else \
            "rle" if isinstance(segm["counts"], (str, bytes)) else "invalid"
    if isinstance(segm, list) and segm and all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and
            all(isinstance(c, Number) for c in p) for p in segm):
        return "polygon"
    return "invalid"


def decode_segmentation(segm, h, w):
    """One frame's segmentation (RLE, uncompressed RLE, polygons or ``None``) → bool (h, w)
    array, or ``None`` when the instance is absent from the frame.

    Raises ``ValueError`` when an RLE's size is not (h, w) or the entry is not a mask:
    callers that know the file wrap it in an ``ObjPropError``.
    """
    import pycocotools.mask as mask_utils
    kind = segmentation_kind(segm)
    if kind == "none":
        return None
    if kind == "invalid":
        raise ValueError("segmentation is neither RLE, polygons nor null")
    if kind == "polygon":
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    else:
        if [int(s) for s in segm["size"]] != [h, w]:
            raise ValueError(f"RLE size {list(segm['size'])} is not the frame's [{h}, {w}]")
        rle = mask_utils.frPyObjects(segm, h, w) if kind == "rle_list" else \
            {"size": [h, w], "counts": segm["counts"]}
    return mask_utils.decode(rle).astype(bool)


def mask_to_bbox(mask):
    """Tight ``[x, y, w, h]`` box of a binary mask (pycocotools' ``toBbox`` convention:
    ``w = x_max - x_min + 1``), or ``None`` for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if len(cols) == 0:
        return None
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1),
            float(rows[-1] - rows[0] + 1)]


def xywh_to_xyxy(box):
    """``[x, y, w, h]`` → ``[x1, y1, x2, y2]`` (mmdet's box order; x2 = x + w)."""
    x, y, w, h = box
    return [x, y, x + w, y + h]


# --------------------------------------------------------------------------- loading

def load_json(path, what="JSON file"):
    """Parse a JSON file; a missing file or a syntax error is one ``ObjPropError`` line."""
    path = Path(path)
    if not path.is_file():
        raise ObjPropError(f"{what} not found", path=path)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ObjPropError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg}", path=path)
    except (UnicodeDecodeError, OSError) as exc:
        raise ObjPropError(f"cannot read {what}: {exc}", path=path)


def _require(cond, message, path):
    if not cond:
        raise ObjPropError(message, path=path)


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_videos(videos, path):
    _require(isinstance(videos, list), "'videos' is not a list", path)
    seen = set()
    for k, v in enumerate(videos):
        _require(isinstance(v, dict) and _is_int(v.get("id")),
                 f"videos[{k}] has no integer 'id'", path)
        vid = v["id"]
        _require(vid not in seen, f"video id {vid} appears twice", path)
        seen.add(vid)
        for key in ("height", "width", "length"):
            _require(_is_int(v.get(key)) and v[key] > 0,
                     f"video {vid} has no positive integer '{key}'", path)
        names = v.get("file_names")
        _require(isinstance(names, list) and all(isinstance(n, str) for n in names),
                 f"video {vid} has no 'file_names' list", path)
        _require(len(names) == v["length"],
                 f"video {vid} lists {len(names)} file_names but its length is "
                 f"{v['length']}", path)


def _check_categories(categories, path):
    _require(isinstance(categories, list) and categories, "'categories' is empty", path)
    seen = set()
    for k, c in enumerate(categories):
        _require(isinstance(c, dict) and _is_int(c.get("id")) and
                 isinstance(c.get("name"), str),
                 f"categories[{k}] needs an integer 'id' and a 'name'", path)
        _require(c["id"] not in seen, f"category id {c['id']} appears twice", path)
        seen.add(c["id"])


def _check_segmentations(segms, video, item, path):
    """Length = the video's; each entry None / polygons / RLE of the video's size."""
    n, hw = video["length"], [video["height"], video["width"]]
    _require(isinstance(segms, list), f"{item} has no 'segmentations' list", path)
    _require(len(segms) == n, f"{item} has {len(segms)} segmentations but video "
             f"{video['id']} has {n} frames", path)
    for f, s in enumerate(segms):
        kind = segmentation_kind(s)
        _require(kind != "invalid", f"{item}, frame {f}: segmentation is neither RLE, "
                 f"polygons nor null", path)
        if kind.startswith("rle"):
            size = s["size"]
            _require(isinstance(size, (list, tuple)) and [int(x) for x in size] == hw,
                     f"{item}, frame {f}: RLE size {size} is not the video's {hw}", path)


def _check_per_frame(values, n, key, item, path, width):
    """Optional per-frame lists (``bboxes``, ``areas``): right length, None or numbers."""
    if values is None:
        return
    _require(isinstance(values, list) and len(values) == n,
             f"{item}: '{key}' does not have one entry per frame ({n})", path)
    for f, v in enumerate(values):
        ok = v is None or (isinstance(v, Number) if width == 1 else
                           isinstance(v, list) and len(v) == width and
                           all(isinstance(x, Number) for x in v))
        _require(ok, f"{item}, frame {f}: bad '{key}' entry {v!r}", path)


def _check_annotations(anns, videos, cat_ids, path):
    _require(isinstance(anns, list), "'annotations' is not a list", path)
    seen = set()
    for k, a in enumerate(anns):
        _require(isinstance(a, dict), f"annotations[{k}] is not an object", path)
        aid = a.get("id", k)
        item = f"annotation {aid}"
        _require(_is_int(aid) and aid not in seen, f"{item}: id missing or repeated", path)
        seen.add(aid)
        _require(a.get("video_id") in videos,
                 f"{item} names unknown video_id {a.get('video_id')}", path)
        _require(a.get("category_id") in cat_ids,
                 f"{item} names unknown category_id {a.get('category_id')}", path)
        video = videos[a["video_id"]]
        _check_segmentations(a.get("segmentations"), video, item, path)
        _check_per_frame(a.get("bboxes"), video["length"], "bboxes", item, path, 4)
        _check_per_frame(a.get("areas"), video["length"], "areas", item, path, 1)
        _require(a.get("iscrowd", 0) in (0, 1, True, False),
                 f"{item}: 'iscrowd' must be 0 or 1", path)


def validate_ytvis(gt, path="<ground truth>"):
    """Check a parsed ground-truth dict; raises ``ObjPropError`` naming the first bad item."""
    _require(isinstance(gt, dict), "not a YouTube-VIS annotation file (top level is not an "
             "object)", path)
    for key in ("videos", "categories"):
        _require(key in gt, f"not a YouTube-VIS annotation file (no '{key}')", path)
    _check_videos(gt["videos"], path)
    _check_categories(gt["categories"], path)
    videos = {v["id"]: v for v in gt["videos"]}
    _check_annotations(gt.get("annotations", []), videos,
                       {c["id"] for c in gt["categories"]}, path)
    return gt


def load_ytvis(ann_file):
    """Load and validate a YouTube-VIS ground-truth file; returns the dict (with an
    ``annotations`` list, empty if the file has none)."""
    gt = validate_ytvis(load_json(ann_file, "annotation file"), ann_file)
    gt.setdefault("annotations", [])
    return gt


def annotations_by_video(gt):
    """``{video_id: [annotation, ...]}`` in file order (every video present)."""
    out = {v["id"]: [] for v in gt["videos"]}
    for a in gt.get("annotations", []):
        out[a["video_id"]].append(a)
    return out


def validate_results(results, gt=None, path="<results>"):
    """Check a parsed results list; with ``gt``, also its videos, categories and sizes."""
    _require(isinstance(results, list), "a results file is a JSON list", path)
    videos = {v["id"]: v for v in gt["videos"]} if gt is not None else None
    cat_ids = {c["id"] for c in gt["categories"]} if gt is not None else None
    for k, r in enumerate(results):
        item = f"result {k}"
        _require(isinstance(r, dict), f"{item} is not an object", path)
        missing = [key for key in RESULT_KEYS if key not in r]
        _require(not missing, f"{item} lacks {', '.join(missing)}", path)
        _require(isinstance(r["score"], Number), f"{item}: 'score' is not a number", path)
        if gt is None:
            _require(isinstance(r["segmentations"], list),
                     f"{item} has no 'segmentations' list", path)
            continue
        _require(r["video_id"] in videos, f"{item} names unknown video_id {r['video_id']}",
                 path)
        _require(r["category_id"] in cat_ids,
                 f"{item} names unknown category_id {r['category_id']}", path)
        _check_segmentations(r["segmentations"], videos[r["video_id"]], item, path)
    return results


def load_results(path, gt=None):
    """Load and validate a YouTube-VIS results file (against ``gt`` when given)."""
    return validate_results(load_json(path, "results file"), gt, path)


def category_names(gt):
    """``{category_id: name}``."""
    return {c["id"]: c["name"] for c in gt["categories"]}


def instances_per_class(gt):
    """``{name: number of (non-crowd) annotations}`` in category order: summaries."""
    names = category_names(gt)
    counts = defaultdict(int)
    for a in gt.get("annotations", []):
        if not a.get("iscrowd", 0):
            counts[a["category_id"]] += 1
    return {names[cid]: counts[cid] for cid in names}


def summarize(gt):
    """Videos, frames and instances (in total and per class) of a ground truth; with
    ToyVIS's ``hard_frames`` metadata, the number of hard frames too."""
    out = dict(videos=len(gt["videos"]), frames=sum(v["length"] for v in gt["videos"]),
               instances=sum(1 for a in gt.get("annotations", []) if not a.get("iscrowd", 0)),
               per_class=instances_per_class(gt))
    if any("hard_frames" in v for v in gt["videos"]):
        out["hard_frames"] = sum(len(v.get("hard_frames", {})) for v in gt["videos"])
    return out
