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
import math
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


# the longest run length one character group of an RLE string may carry: 7 characters of
# 5 bits; a frame of 2^34 pixels is far beyond any video, and longer groups would overflow
# pycocotools' C decoder
_RLE_MAX_GROUP = 7


def _is_finite_number(x):
    """A number a float can hold: not a bool, not inf or nan, and not an integer too large
    for a float (JSON allows 400 digits; ``math.isfinite`` raises on them)."""
    if not isinstance(x, Number) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _rle_string_problems(strings, n_pixels):
    """Check pycocotools compressed RLE strings (``str`` or ``bytes``): ``{index: problem}``
    for those that are not ``n_pixels`` of non-negative runs.

    The same arithmetic as pycocotools' ``rleFrString`` (maskApi.c), vectorised over many
    strings at once (a file's strings in chunks of about :data:`_RLE_CHUNK_CHARS`
    characters): a string that pycocotools would decode into negative or overflowing runs,
    and then hang on or write past its buffer with, is refused before pycocotools sees it.
    """
    problems, raws = {}, []
    for i, counts in enumerate(strings):
        try:
            raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
        except UnicodeEncodeError:
            raw = b"\x00"
        if not raw:
            problems[i] = "RLE counts are empty"
        raws.append(raw)
    keep = [i for i in range(len(raws)) if i not in problems]
    chunk, chars = [], 0
    for n, i in enumerate(keep, 1):
        chunk.append(i)
        chars += len(raws[i])
        if chars >= _RLE_CHUNK_CHARS or n == len(keep):
            problems.update(_rle_chunk_problems(raws, chunk, n_pixels))
            chunk, chars = [], 0
    return problems


# characters decoded at a time: the run arrays of a chunk (a few times its size in int64)
# stay in the CPU's cache; a file's worth at once (millions of runs) was twice as slow, and
# seven times on a first call, which faults in every page of its temporaries
_RLE_CHUNK_CHARS = 1 << 16


def _rle_chunk_problems(raws, keep, n_pixels):
    """:func:`_rle_string_problems` of the non-empty byte strings ``raws[i]``, ``i`` in
    ``keep``: ``{i: problem}``."""
    problems = {}
    lens = np.array([len(raws[i]) for i in keep])
    stops = np.cumsum(lens)                                  # one past each string's end
    u = np.frombuffer(b"".join(raws[i] for i in keep), dtype=np.uint8)
    bad = np.zeros(len(keep), dtype=bool)

    def refuse(mask, problem):
        for j in np.flatnonzero(mask & ~bad):
            problems[keep[j]] = problem
        bad[:] |= mask

    c = u - np.uint8(48)                     # wraps round: below '0' is above 63 too
    outside = c > 63
    if outside.any():
        owner = np.searchsorted(stops, np.flatnonzero(outside), side="right")
        refuse(np.bincount(owner, minlength=len(keep)) > 0,
               "RLE counts hold characters outside pycocotools' alphabet ('0'..'o')")
        c[outside] = 0
    truncated = (c[stops - 1] & 0x20) != 0
    refuse(truncated, "RLE counts end in the middle of a run (truncated string)")
    totals, negative, first_run, runs_per, too_long = _decode_runs(c, stops)
    runs_to_stop = first_run + runs_per

    def owners(runs):                      # the strings holding these runs
        return np.bincount(np.searchsorted(runs_to_stop, runs, side="right"),
                           minlength=len(keep)) > 0
    if too_long is not None:
        refuse(owners(too_long), "RLE counts hold a run too long for any frame")
    if negative.size:
        refuse(owners(negative), "RLE counts decode to a negative run length (corrupt string)")
    for j in np.flatnonzero((totals != n_pixels) & ~bad):
        problems[keep[j]] = (f"RLE counts cover {int(totals[j])} pixels, not the frame's "
                             f"{n_pixels} (corrupt, or encoded for another size)")
    return problems


# the value of a run's last character c (less 48): its 5 bits, bit 4 the sign of the run
_RLE_LAST = np.array([(v & 0x1f) - ((v & 0x10) << 1) for v in range(64)], dtype=np.int64)


def _decode_runs(c, stops):
    """pycocotools' ``rleFrString`` (maskApi.c) on many strings at once: ``c`` their
    characters less 48, concatenated, ``stops`` one past each string's end (a string
    cut in the middle of a run is ended there). Returns ``(totals, negative, first_run,
    runs_per, too_long)``: each string's pixels (the sum of its runs), the runs of negative
    length, each string's first run and number of runs, and the runs longer than
    :data:`_RLE_MAX_GROUP` characters (``None`` if none; their values are not
    pycocotools'). Few passes over arrays the size of the runs: a file holds
    millions of them.

    Most runs are one character (pycocotools stores a run as its difference to the run two
    before, which along a mask's columns is small): a run's value is its last character's,
    looked up, and the rarer continuation characters (bit 5 set) add their lower bits."""
    more = c > 31                                 # a continuation: the run goes on
    more[stops - 1] = False
    cont = np.flatnonzero(more)
    x = _RLE_LAST[c[~more] if cont.size else c]   # each run's last character, signed
    too_long = None
    if cont.size:
        # the run of each continuation character: its position less those before it; a
        # run's continuation characters are adjacent, least significant first
        k = np.arange(cont.size)
        run = cont - k
        group = np.flatnonzero(np.diff(cont, prepend=-2) != 1)   # each run's first one
        n_more = np.diff(group, append=cont.size)
        shift = k - np.repeat(group, n_more)                      # its place in the run
        runs = run[group]
        if n_more.max() >= _RLE_MAX_GROUP:
            too_long = runs[n_more >= _RLE_MAX_GROUP]
            np.minimum(shift, _RLE_MAX_GROUP - 1, out=shift)     # refused: no overflow
            np.minimum(n_more, _RLE_MAX_GROUP - 1, out=n_more)
        low = (c[cont] & 0x1f).astype(np.int64) << (5 * shift)
        x[runs] = (x[runs] << (5 * n_more)) + np.add.reduceat(low, group)
    runs_to_stop = stops - np.searchsorted(cont, stops)           # runs up to each stop
    runs_per = np.diff(runs_to_stop, prepend=0)
    first_run = runs_to_stop - runs_per
    # run m >= 3 of a string is stored as the difference to run m - 2: runs 1, 3, 5... and
    # 2, 4, 6... are running sums, restarted at each string. In the whole concatenation that
    # is a running sum over each parity of position, its segments the strings' runs of that
    # parity (the first run, set to 0, starts one of them): restarted by subtracting, at
    # each segment's start, the sum of the segment before it. Each parity's runs are copied
    # out once and summed in place (a running sum written back with a stride was most of
    # the time); the checks need only their sums and their signs
    first = x[first_run].copy()
    x[first_run] = 0
    totals, negative = np.zeros(len(stops), np.int64), []
    for parity in (0, 1):
        lo = (first_run - parity + 1) // 2
        has = (first_run + runs_per - parity + 1) // 2 > lo      # strings with such runs
        lo = lo[has]
        if not lo.size:
            continue
        cnts = x[parity::2].copy()
        sums = np.add.reduceat(cnts, lo)
        cnts[lo[1:]] -= sums[:-1]
        np.cumsum(cnts, out=cnts)
        firsts = first_run % 2 == parity
        cnts[first_run[firsts] // 2] = first[firsts]
        totals[has] += np.add.reduceat(cnts, lo)
        if cnts.min() < 0:
            negative.append(2 * np.flatnonzero(cnts < 0) + parity)
    negative = np.sort(np.concatenate(negative)) if negative else np.zeros(0, np.int64)
    return totals, negative, first_run, runs_per, too_long


def segmentation_problems(segms, h, w):
    """``{frame index: what is wrong}`` for a list of per-frame segmentations of an (h, w)
    video; empty when all are fine.

    The one check behind both the file validation and ``decode_segmentation``: the format
    (RLE, uncompressed RLE, polygons or null), an RLE's ``size``, that its run lengths
    decode, are non-negative and cover exactly h * w pixels, and that polygon coordinates
    are finite and near the frame (pycocotools rasterises every edge point by point).
    """
    problems, strings = _segmentation_structure(segms, h, w)
    frames = list(strings)
    for j, problem in _rle_string_problems(list(strings.values()), h * w).items():
        problems[frames[j]] = problem
    return dict(sorted(problems.items()))


def _segmentation_structure(segms, h, w):
    """``(problems, strings)``: what :func:`segmentation_problems` finds before decoding
    run lengths (``{frame: problem}``), and the compressed RLE strings it would decode
    (``{frame: counts}``)."""
    problems, strings = {}, {}
    for f, segm in enumerate(segms):
        # the common case first, on exact types (a float or bool size takes the long way)
        if type(segm) is dict and type(segm.get("counts")) is str:
            size = segm.get("size")
            if type(size) is list and len(size) == 2 and type(size[0]) is int and \
                    type(size[1]) is int and size[0] == h and size[1] == w:
                strings[f] = segm["counts"]
                continue
        kind = segmentation_kind(segm)
        if kind == "none":
            continue
        if kind == "invalid":
            problems[f] = "segmentation is neither RLE, polygons nor null"
        elif kind == "polygon":
            problem = _polygon_problem(segm, h, w)
            if problem:
                problems[f] = problem
        else:
            size = segm["size"]
            if not (isinstance(size, (list, tuple)) and len(size) == 2 and
                    all(_is_int(x) for x in size)):
                problems[f] = f"RLE size {_show(size)} is not two integers"
            elif [int(x) for x in size] != [h, w]:
                problems[f] = f"RLE size {[int(x) for x in size]} is not the video's {[h, w]}"
            elif kind == "rle":
                strings[f] = segm["counts"]
            elif not all(_is_int(n) and n >= 0 for n in segm["counts"]):
                problems[f] = "RLE counts are not non-negative integers"
            elif sum(int(n) for n in segm["counts"]) != h * w:
                problems[f] = (f"RLE counts cover {sum(int(n) for n in segm['counts'])} "
                               f"pixels, not the frame's {h * w}")
    return problems, strings


def _polygon_problem(segm, h, w):
    for poly in segm:
        for i, v in enumerate(poly):
            side = w if i % 2 == 0 else h
            if not (_is_finite_number(v) and -side <= v <= 2 * side):
                return (f"polygon coordinate {_show(v)} is not a finite number near the "
                        f"frame ({'x' if i % 2 == 0 else 'y'} within [{-side}, {2 * side}])")
    return None


def segmentation_problem(segm, h, w):
    """What is wrong with one frame's segmentation for an (h, w) frame, or ``None``."""
    return segmentation_problems([segm], h, w).get(0)


def decode_segmentation(segm, h, w):
    """One frame's segmentation (RLE, uncompressed RLE, polygons or ``None``) → bool (h, w)
    array, or ``None`` when the instance is absent from the frame.

    Raises ``ValueError`` (with ``segmentation_problem``'s words) when the entry is not a
    valid mask of an (h, w) frame: callers that know the file wrap it in an
    ``ObjPropError``.
    """
    import pycocotools.mask as mask_utils
    problem = segmentation_problem(segm, h, w)
    if problem is not None:
        raise ValueError(problem)
    kind = segmentation_kind(segm)
    if kind == "none":
        return None
    if kind == "polygon":
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    else:
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


def _show(value):
    """A value as the file spells it (``true``, ``"3"``, ``1.0``), short."""
    text = str(value) if _is_int(value) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


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


class _RLEBatch:
    """The compressed RLE strings of a whole file, decoded together: one
    :func:`_rle_string_problems` call per frame size instead of one per track (its numpy
    set-up per call was most of the time loading a file of many tracks took). A file's
    checks report its first problem in file order, as checking one track at a time did:
    :func:`_first_problem_in_order` runs :meth:`raise_first` before any other error."""

    def __init__(self):
        # n_pixels -> parallel lists (item order, frame, counts): no tuple per frame, which
        # would wake the garbage collector over the whole parsed file again and again
        self.groups = defaultdict(lambda: ([], [], []))
        self.items = {}

    def add(self, order, item, strings, n_pixels):
        orders, frames, counts = self.groups[n_pixels]
        orders.extend([order] * len(strings))
        frames.extend(strings.keys())
        counts.extend(strings.values())
        self.items[order] = item

    def raise_first(self, path):
        """Raise the problem of the earliest (item, frame) among the strings held, if any."""
        first = None
        for n_pixels, (orders, frames, counts) in self.groups.items():
            for j, problem in _rle_string_problems(counts, n_pixels).items():
                if first is None or (orders[j], frames[j]) < first[:2]:
                    first = (orders[j], frames[j], problem)
        self.groups.clear()
        if first is not None:
            raise ObjPropError(f"{self.items[first[0]]}, frame {first[1]}: {first[2]}",
                               path=path)


def _first_problem_in_order(check_items, path):
    """Run ``check_items(batch)``; an error it raises comes after any problem of the RLE
    strings it deferred to ``batch`` (those are of earlier items, or of the same item's
    segmentations, which are checked before its other per-frame fields). Any error, not
    only ``ObjPropError``: checking one track at a time never reached a later item's
    crash (e.g. ``math.isfinite`` on a 400-digit JSON integer) past an earlier bad RLE."""
    batch = _RLEBatch()
    try:
        check_items(batch)
    except Exception:
        batch.raise_first(path)
        raise
    batch.raise_first(path)


def _check_segmentations(segms, video, item, path, batch, order):
    """Length = the video's; each entry None / polygons / RLE of the video's size; the
    compressed RLE strings go to ``batch`` (checked with the file's others) unless the
    item has another problem, when they are checked at once and its lowest frame wins."""
    n, hw = video["length"], [video["height"], video["width"]]
    _require(isinstance(segms, list), f"{item} has no 'segmentations' list", path)
    _require(len(segms) == n, f"{item} has {len(segms)} segmentations but video "
             f"{video['id']} has {n} frames", path)
    problems, strings = _segmentation_structure(segms, *hw)
    if not problems:
        batch.add(order, item, strings, hw[0] * hw[1])
        return
    f, problem = next(iter(segmentation_problems(segms, *hw).items()))   # its lowest frame
    raise ObjPropError(f"{item}, frame {f}: {problem}", path=path)


def _check_per_frame(values, n, key, item, path, width):
    """Optional per-frame lists (``bboxes``, ``areas``): right length, None or numbers."""
    if values is None:
        return
    _require(isinstance(values, list) and len(values) == n,
             f"{item}: '{key}' does not have one entry per frame ({n})", path)
    for f, v in enumerate(values):
        ok = v is None or (_is_finite_number(v) if width == 1 else
                           isinstance(v, list) and len(v) == width and
                           all(_is_finite_number(x) for x in v))
        _require(ok, f"{item}, frame {f}: bad '{key}' entry {v!r}", path)


def _check_ids(entry, videos, cat_ids, item, path):
    """``video_id`` and ``category_id``: integers (not ``true``, not ``1.0``) that the
    ground truth defines."""
    for key, known in (("video_id", videos), ("category_id", cat_ids)):
        value = entry.get(key)
        _require(_is_int(value) and value in known,
                 f"{item} names unknown {key} {_show(value)}", path)


def _check_annotations(anns, videos, cat_ids, path):
    _require(isinstance(anns, list), "'annotations' is not a list", path)
    _first_problem_in_order(lambda batch: _check_each_annotation(anns, videos, cat_ids, path,
                                                                 batch), path)


def _check_each_annotation(anns, videos, cat_ids, path, batch):
    seen = set()
    for k, a in enumerate(anns):
        _require(isinstance(a, dict), f"annotations[{k}] is not an object", path)
        aid = a.get("id", k)
        item = f"annotation {aid}"
        _require(_is_int(aid) and aid not in seen, f"{item}: id missing or repeated", path)
        seen.add(aid)
        _check_ids(a, videos, cat_ids, item, path)
        video = videos[a["video_id"]]
        _check_segmentations(a.get("segmentations"), video, item, path, batch, k)
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
    _first_problem_in_order(lambda batch: _check_each_result(results, gt, path, batch), path)
    return results


def _check_each_result(results, gt, path, batch):
    videos = {v["id"]: v for v in gt["videos"]} if gt is not None else None
    cat_ids = {c["id"] for c in gt["categories"]} if gt is not None else None
    for k, r in enumerate(results):
        item = f"result {k}"
        _require(isinstance(r, dict), f"{item} is not an object", path)
        missing = [key for key in RESULT_KEYS if key not in r]
        _require(not missing, f"{item} lacks {', '.join(missing)}", path)
        score = r["score"]
        _require(isinstance(score, Number) and not isinstance(score, bool),
                 f"{item}: 'score' is not a number ({_show(score)})", path)
        _require(_is_finite_number(score), f"{item}: 'score' is not finite "
                 f"({_show(score) if _is_int(score) else score})", path)
        _require(score >= 0, f"{item}: 'score' is negative ({score})", path)
        if gt is None:
            _require(isinstance(r["segmentations"], list),
                     f"{item} has no 'segmentations' list", path)
            continue
        _check_ids(r, videos, cat_ids, item, path)
        video = videos[r["video_id"]]
        _check_segmentations(r["segmentations"], video, item, path, batch, k)
        filled = r.get("filled")
        _require(filled is None or (isinstance(filled, list) and
                                    len(filled) == video["length"] and
                                    all(isinstance(b, bool) for b in filled)),
                 f"{item}: 'filled' is not one true/false per frame ({video['length']})",
                 path)


# What the YouTube-VIS evaluation server reads: a zip holding one ``results.json`` whose
# entries have exactly these keys (``filled`` and ``track_id`` stay in a side file)
SUBMISSION_MEMBER = "results.json"
SUBMISSION_KEYS = ("video_id", "category_id", "score", "segmentations")


def load_results(path, gt=None):
    """Load and validate a YouTube-VIS results file (against ``gt`` when given): a
    ``.json``, or a server submission ``.zip`` holding ``results.json``."""
    if str(path).endswith(".zip"):
        return validate_results(_load_submission(path), gt, path)
    return validate_results(load_json(path, "results file"), gt, path)


def _load_submission(path):
    import zipfile
    path = Path(path)
    if not path.is_file():
        raise ObjPropError("results zip not found", path=path)
    try:
        with zipfile.ZipFile(path) as z:
            if SUBMISSION_MEMBER not in z.namelist():
                raise ObjPropError(f"a results zip must hold {SUBMISSION_MEMBER} (it holds "
                                   f"{', '.join(z.namelist()) or 'nothing'})", path=path)
            data = z.read(SUBMISSION_MEMBER)
    except zipfile.BadZipFile as exc:
        raise ObjPropError(f"not a zip file: {exc}", path=path)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ObjPropError(f"{SUBMISSION_MEMBER} in the zip is not valid JSON: {exc}",
                           path=path)


def write_submission(results, gt, path):
    """Write ``results`` as the evaluation server wants them: ``path`` (a ``.zip``) holding
    one ``results.json`` with only :data:`SUBMISSION_KEYS` per result, after checking them
    against the split's ``gt`` (every result names one of its videos, one segmentation per
    frame; videos without results are allowed). The ``filled`` marks and track ids go to
    ``<path>.filled.json`` beside it. Both written atomically; returns the two paths."""
    import zipfile

    from ..io import atomic_path, write_json_atomic
    validate_results(results, gt, path)
    path = Path(path)
    if path.suffix != ".zip":
        raise ObjPropError("a server submission is a .zip", path=path)
    official = [{k: r[k] for k in SUBMISSION_KEYS} for r in results]
    side = path.with_name(path.stem + ".filled.json")
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr(SUBMISSION_MEMBER, json.dumps(official))
    write_json_atomic([dict(video_id=r["video_id"], track_id=r.get("track_id"),
                            filled=r.get("filled")) for r in results], side)
    return path, side


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


def box_sides(gt):
    """Percentiles (10th, 50th, 90th) of the side of an instance's box, √(w·h) in pixels,
    over every annotated instance-frame: how large objects are against a feature stride."""
    sides = [math.sqrt(b[2] * b[3]) for a in gt.get("annotations", [])
             for b in a.get("bboxes") or [] if b is not None]
    if not sides:
        return None
    p10, p50, p90 = np.percentile(sides, [10, 50, 90])
    return dict(p10=float(p10), median=float(p50), p90=float(p90))


def summarize(gt):
    """Videos, frames, categories and instances (in total and per class) of a ground truth;
    with ToyVIS's ``hard_frames`` metadata, the number of hard frames too."""
    out = dict(videos=len(gt["videos"]), frames=sum(v["length"] for v in gt["videos"]),
               instances=sum(1 for a in gt.get("annotations", []) if not a.get("iscrowd", 0)),
               categories=len(gt["categories"]), per_class=instances_per_class(gt))
    if any("hard_frames" in v for v in gt["videos"]):
        out["hard_frames"] = sum(len(v.get("hard_frames", {})) for v in gt["videos"])
    return out
