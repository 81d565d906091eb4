"""Evaluation speed: objprop's evaluator against a transcription of the official one.

Builds a seeded synthetic YouTube-VIS set (ToyVIS-like: moving, growing ellipses and boxes,
some frames absent, results = jittered / truncated copies of the ground truth plus false
positives and wrong labels), written to files once and kept in the temporary folder, keyed
by its parameters. Two cases (``--case``):

* small (200 videos at 180x320, one or two results per ground-truth track), timed in this
  process and as whole processes;
* large (700 videos at YouTube-VIS 2019's 720x1280, two results per ground-truth track,
  about 85 MiB of JSON), whole processes only.

Whole processes, as a user runs them: ``objprop evaluate --gt --results --out`` from the
shell (start-up, imports, loading and validation, the 12 stats, stability and tracking
metrics), beside the official evaluator as its own process (its loading and ``loadRes``
transcribed, then its IoU and COCOeval: ``--official-files``). In-process (small case):

* ``ytvis_evaluate``: the 12 stats (one ``pycocotools.mask.iou`` call per frame for all
  pairs of a video);
* the official evaluator's IoU, transcribed (``tracks.video_ious_ytvoseval``:
  youtubevos/cocoapi ``ytvoseval.py`` ``computeIoU``, an RLE merge per pair and frame, once
  per (video, category)), under the same COCOeval matching and summary;
* the official evaluator from files (its loading and ``loadRes`` too), then the same;
* ``objprop evaluate``'s whole computation (``evaluate_files``), and the same three
  metrics computed apart (each its own intersections, as before they were shared).

The contenders run in turn, best of N each (the machine's speed moves; a disturbance falls
on all alike). Checks that the 12 stats agree to 1e-9 and prints the times and their ratios.

    python benchmarks/bench_eval.py [--case small|large|both] [--repeat N]
        [--videos N] [--frames LO-HI] [--size HxW] [--seed S]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def ellipse_or_box(h, w, cy, cx, ry, rx, box):
    """The pixels of one shape in an (h, w) frame, as sorted column-major flat indices
    (``x * h + y``, the order of an RLE): computed on the shape's window only (a frame of
    YouTube-VIS's size is 1280x720), the same per-pixel test as on the whole frame."""
    y0, y1 = max(0, int(np.floor(cy - ry)) - 1), min(h, int(np.ceil(cy + ry)) + 2)
    x0, x1 = max(0, int(np.floor(cx - rx)) - 1), min(w, int(np.ceil(cx + rx)) + 2)
    yy, xx = np.arange(y0, max(y0, y1))[:, None], np.arange(x0, max(x0, x1))[None, :]
    if box:
        inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
    else:
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    xs, ys = np.nonzero(inside.T)                    # column-major: sorted by x, then y
    return (xs + x0) * h + (ys + y0)


def instance_masks(rng, n, h, w):
    """One object's masks over n frames: constant velocity, slow growth, absent frames."""
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    vy, vx = rng.normal(0, 0.01 * h), rng.normal(0, 0.01 * w)
    ry, rx = rng.uniform(0.05, 0.3) * h, rng.uniform(0.05, 0.3) * w
    grow, box = rng.uniform(0.97, 1.03), rng.random() < 0.5
    gone = rng.random(n) < 0.1
    return [None if gone[t] else ellipse_or_box(h, w, cy + vy * t, cx + vx * t,
                                                 ry * grow ** t, rx * grow ** t, box)
            for t in range(n)]


def jittered(rng, masks, h, w):
    """A prediction of one object: shifted a few pixels (wrapping round, as ``np.roll``),
    some frames dropped."""
    dy, dx = rng.integers(-4, 5, size=2)
    out = []
    for m in masks:
        if m is None or rng.random() < 0.1:
            out.append(None)
        else:
            x, y = np.divmod(m, h)
            # sorted runs (a wrap round an edge splits them): timsort merges, fast
            out.append(np.sort((x + dx) % w * h + (y + dy) % h, kind="stable"))
    return out


def encode_pixels(pixels, h, w):
    """Sorted column-major pixel indices → compressed RLE (``encode_mask``'s string of the
    same mask), ``None`` when empty: the runs from the pixels, no (h, w) array."""
    import pycocotools.mask as mask_utils
    if pixels is None or not len(pixels):
        return None
    breaks = np.flatnonzero(np.diff(pixels) != 1) + 1
    starts = pixels[np.r_[0, breaks]]
    stops = pixels[np.r_[breaks - 1, len(pixels) - 1]] + 1
    runs = np.empty(2 * len(starts), dtype=np.int64)
    runs[0::2] = starts - np.r_[0, stops[:-1]]       # zeros before each run of ones
    runs[1::2] = stops - starts
    counts = runs.tolist() + ([h * w - int(stops[-1])] if stops[-1] < h * w else [])
    rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def synthetic_set(n_videos, frames, h, w, seed=0, n_cats=5, per_track=None):
    """(gt, results) in YouTube-VIS format, deterministic for a seed. ``per_track``: results
    per ground-truth track (duplicates, wrong labels); ``None``: one or two at random."""
    def enc(masks):
        return [encode_pixels(m, h, w) for m in masks]

    rng = np.random.default_rng(seed)
    videos, anns, results = [], [], []
    for v in range(1, n_videos + 1):
        n = int(rng.integers(frames[0], frames[1] + 1))
        videos.append(dict(id=v, width=w, height=h, length=n,
                           file_names=[f"{v}/{t:05d}.jpg" for t in range(n)]))
        for _ in range(int(rng.integers(1, 5))):
            masks = instance_masks(rng, n, h, w)
            if all(m is None for m in masks):
                continue
            cat = int(rng.integers(1, n_cats + 1))
            segms = enc(masks)
            anns.append(dict(id=len(anns) + 1, video_id=v, category_id=cat, iscrowd=0,
                             segmentations=segms,
                             areas=[None if s is None else len(m)
                                    for s, m in zip(segms, masks)]))
            for _ in range(per_track or int(rng.integers(1, 3))):  # duplicates, wrong labels
                label = cat if rng.random() < 0.8 else int(rng.integers(1, n_cats + 1))
                results.append(dict(video_id=v, category_id=label,
                                    score=float(rng.random()),
                                    segmentations=enc(jittered(rng, masks, h, w))))
        for _ in range(int(rng.integers(0, 3))):       # false positives
            results.append(dict(video_id=v, category_id=int(rng.integers(1, n_cats + 1)),
                                score=float(rng.random()) * 0.5,
                                segmentations=enc(instance_masks(rng, n, h, w))))
    gt = dict(videos=videos, annotations=anns,
              categories=[dict(id=c, name=f"class{c}") for c in range(1, n_cats + 1)])
    return gt, results


def official_evaluate(gt, results):
    """The 12 stats with the official video IoU (transcribed), computed as ytvoseval
    computes it: per (video, category), per pair and frame."""
    from objprop.evaluation import tracks
    from objprop.evaluation.ytvis_eval import evaluate_tracks
    return evaluate_tracks(gt, tracks.gt_tracks(gt), tracks.result_tracks(gt, results),
                           iou_fn=tracks.video_ious_ytvoseval, per_video=False)


def official_load(gt_path, results_path):
    """What the official evaluator does before its IoU: youtubevos/cocoapi
    ``PythonAPI/pycocotools/ytvos.py`` (transcribed, prints left out): ``YTVOS(gt)`` reads
    the file and builds its index (``createIndex``, lines 61-90), ``loadRes`` (lines
    205-250) reads the results and computes every frame's area and box
    (``maskUtils.area``, ``maskUtils.toBbox``) and each track's mean area."""
    from collections import defaultdict

    import pycocotools.mask as maskUtils
    with open(gt_path) as f:
        gt = json.load(f)
    anns, vids, cats = {}, {}, {}
    vid_to_anns, cat_to_vids = defaultdict(list), defaultdict(list)
    for ann in gt["annotations"]:
        vid_to_anns[ann["video_id"]].append(ann)
        anns[ann["id"]] = ann
    for vid in gt["videos"]:
        vids[vid["id"]] = vid
    for cat in gt["categories"]:
        cats[cat["id"]] = cat
    for ann in gt["annotations"]:
        cat_to_vids[ann["category_id"]].append(ann["video_id"])
    with open(results_path) as f:
        results = json.load(f)
    assert type(results) == list, "results in not an array of objects"
    vid_ids = [r["video_id"] for r in results]
    assert set(vid_ids) == (set(vid_ids) & set(vids))
    for i, ann in enumerate(results):
        ann["areas"] = []
        if "bboxes" not in ann:
            ann["bboxes"] = []
        for seg in ann["segmentations"]:
            if seg:
                ann["areas"].append(maskUtils.area(seg))
                if len(ann["bboxes"]) < len(ann["areas"]):
                    ann["bboxes"].append(maskUtils.toBbox(seg))
            else:
                ann["areas"].append(None)
                if len(ann["bboxes"]) < len(ann["areas"]):
                    ann["bboxes"].append(None)
        ann["id"] = i + 1
        areas = [a for a in ann["areas"] if a]
        ann["avg_area"] = 0 if not areas else np.array(areas).mean()
        ann["iscrowd"] = 0
    return gt, results


def official_evaluate_files(gt_path, results_path):
    """The official evaluator as a user runs it: files in, the 12 stats out."""
    gt, results = official_load(gt_path, results_path)
    return official_evaluate(gt, results)


def evaluate_apart(gt, results):
    """The three metrics of `objprop evaluate`, each from its own intersections."""
    from objprop.evaluation import stability_metrics, ytvis_evaluate
    from objprop.evaluation.hota import tracking_metrics
    return (ytvis_evaluate(gt, results), stability_metrics(gt, results),
            tracking_metrics(gt, results))


def evaluate_whole(gt_path, results_path):
    from objprop.evaluation import evaluate_files
    return evaluate_files(gt_path, results_path)


def timed(fn, *args, repeat=1):
    """(result, best wall time of ``repeat`` runs): the best is the least disturbed by
    whatever else the machine is doing."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def timed_in_turn(calls, repeat):
    """``{name: (result, best wall time)}`` of ``calls`` (name -> (fn, args)) run in turn,
    ``repeat`` rounds: a disturbance of the machine (its speed moves by a third within a
    minute on some) falls on every contender alike rather than on one of them."""
    out = {name: (None, float("inf")) for name in calls}
    for _ in range(repeat):
        for name, (fn, args) in calls.items():
            result, t = timed(fn, *args)
            out[name] = (result, min(out[name][1], t))
    return out


# the least CPU seconds (user + system) each process contender took: beside the wall
# times, a figure that moves less with what else runs on a shared machine
CPU_SECONDS = {}


def run_process(name, cmd, out_path):
    """Run ``cmd`` (a whole process), note its CPU time under ``name``, and return the
    JSON it wrote to ``out_path``."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    CPU_SECONDS[name] = min(cpu, CPU_SECONDS.get(name, float("inf")))
    return json.loads(Path(out_path).read_text())


def objprop_process(gt_path, results_path, out_path):
    """``objprop evaluate`` as a user runs it from the shell: a whole process (start-up and
    imports included); its metrics read back from ``--out``."""
    exe = Path(sys.executable).with_name("objprop")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "objprop.cli"]
    return run_process("objprop", cmd + ["evaluate", "--gt", str(gt_path), "--results",
                                         str(results_path), "--out", str(out_path)], out_path)


def official_process(gt_path, results_path, out_path):
    """The official evaluator (transcribed) as a whole process: this script with
    ``--official-files``, which imports what it needs (numpy, pycocotools, objprop's
    COCOeval set-up), reads both files, computes the 12 stats and writes them."""
    return run_process("official", [sys.executable, __file__, "--official-files",
                                    str(gt_path), str(results_path), str(out_path)], out_path)


# the large case: YouTube-VIS 2019's size, two results per ground-truth track (as a
# results file of a tracker that keeps duplicates), about its valid + minival video count
LARGE = dict(videos=700, frames=(12, 24), size=(720, 1280), per_track=2)
SMALL = dict(videos=200, frames=(12, 24), size=(180, 320), per_track=None)
# bump when synthetic_set changes what it writes: the cache key holds it
GENERATOR_VERSION = 1


def cached_files(videos, frames, size, seed, per_track):
    """The (gt, results) files of a case, generated once and kept under the temporary
    folder, keyed by the case's parameters (the large case takes minutes to build)."""
    h, w = size
    key = (f"v{GENERATOR_VERSION}-{videos}videos-{frames[0]}-{frames[1]}frames-{h}x{w}-"
           f"seed{seed}-{per_track or 'r'}per")
    folder = Path(tempfile.gettempdir()) / "objprop-bench-eval" / key
    gt_path, res_path = folder / "gt.json", folder / "results.json"
    if gt_path.exists() and res_path.exists():
        print(f"case files reused from {folder}")
        return gt_path, res_path
    (gt, results), t_gen = timed(synthetic_set, videos, frames, h, w, seed, 5, per_track)
    folder.mkdir(parents=True, exist_ok=True)
    for path, obj in ((res_path, results), (gt_path, gt)):   # gt last: it marks complete
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, path)
    print(f"case files built in {t_gen:.1f}s, kept in {folder}")
    return gt_path, res_path


def describe(gt_path, res_path):
    from objprop.data.ytvis import load_results, load_ytvis
    gt = load_ytvis(gt_path)
    results = load_results(res_path, gt)
    v = gt["videos"][0]
    frames = sum(v["length"] for v in gt["videos"])
    mib = (gt_path.stat().st_size + res_path.stat().st_size) / 2 ** 20
    print(f"{len(gt['videos'])} videos, {frames} frames at {v['height']}x{v['width']}, "
          f"{len(gt['annotations'])} GT tracks, {len(results)} result tracks "
          f"({mib:.0f} MiB of JSON)")
    return gt, results


def check_same(name, a, b, tol):
    from objprop.evaluation import STAT_NAMES
    worst = max(abs(a[n] - b[n]) for n in STAT_NAMES)
    if worst > tol:
        print(f"MISMATCH: {name}: the 12 stats differ by {worst:.2e}", file=sys.stderr)
        return False
    return True


def run_case(name, params, seed, repeat, in_process):
    """Time one case; returns False on a mismatch of the 12 stats."""
    from objprop.evaluation import STAT_NAMES, ytvis_evaluate
    print(f"== {name} case: ", end="")
    gt_path, res_path = cached_files(params["videos"], params["frames"], params["size"],
                                     seed, params["per_track"])
    gt, results = describe(gt_path, res_path)
    with tempfile.TemporaryDirectory() as tmp:
        outs = Path(tmp) / "objprop.json", Path(tmp) / "official.json"
        calls = dict(proc=(objprop_process, (gt_path, res_path, outs[0])),
                     ref_proc=(official_process, (gt_path, res_path, outs[1])))
        if in_process:
            calls.update(fast=(ytvis_evaluate, (gt, results)),
                         ref=(official_evaluate, (gt, results)),
                         whole=(evaluate_whole, (gt_path, res_path)),
                         ref_files=(official_evaluate_files, (gt_path, res_path)),
                         apart=(evaluate_apart, (gt, results)))
        runs = timed_in_turn(calls, repeat)
    (proc, t_proc), (ref_proc, t_ref_proc) = runs["proc"], runs["ref_proc"]
    ok = check_same("objprop evaluate against the official evaluator", proc, ref_proc, 1e-9)
    print("stats: " + "  ".join(f"{n}={proc[n]:.4f}" for n in STAT_NAMES))
    if in_process:
        (fast, t_fast), (ref, t_ref), (whole, t_whole), (ref_files, t_ref_files), \
            (_, t_apart) = (runs[k] for k in ("fast", "ref", "whole", "ref_files", "apart"))
        ok &= check_same("ytvis_evaluate against the official IoU", fast, ref, 1e-9)
        ok &= check_same("evaluate_files against ytvis_evaluate", whole, fast, 1e-12)
        ok &= check_same("the official evaluator from files and in memory", ref_files, ref, 0)
        print(f"official evaluator's IoU (transcribed), 12 stats: {t_ref:.2f}s")
        print(f"official evaluator, files in (its loading and loadRes transcribed too): "
              f"{t_ref_files:.2f}s")
        print(f"ytvis_evaluate, 12 stats:                         {t_fast:.2f}s  "
              f"ratio to official {t_fast / t_ref:.2f}")
        print(f"objprop evaluate (files in; 12 stats, stability, HOTA; shared "
              f"intersections): {t_whole:.2f}s  ratio to official {t_whole / t_ref:.2f}, "
              f"to official files in {t_whole / t_ref_files:.2f}")
        print(f"the same three metrics apart (own intersections each):                     "
              f"{t_apart:.2f}s  ratio shared/apart {t_whole / t_apart:.2f}")
    cpu, cpu_ref = CPU_SECONDS.pop("objprop"), CPU_SECONDS.pop("official")
    print(f"whole processes: official evaluator (12 stats) {t_ref_proc:.2f}s, "
          f"`objprop evaluate` {t_proc:.2f}s: ratio {t_proc / t_ref_proc:.2f} "
          f"(CPU time {cpu_ref:.2f}s, {cpu:.2f}s: ratio {cpu / cpu_ref:.2f})")
    print(f"(best of {repeat} runs each, run in turn; ratios < 1: objprop is faster)")
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=("small", "large", "both"), default="small",
                   help="small (the default): 200 videos at 180x320, also timed in this "
                        "process; large: 700 videos at 720x1280, two results per "
                        "ground-truth track, whole processes only (built once, minutes, then "
                        "reused from the temporary folder)")
    p.add_argument("--videos", type=int, help="override the case's number of videos")
    p.add_argument("--frames", help="LO-HI frames per video (override)")
    p.add_argument("--size", help="HxW (override)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, help="best of N timings (default: small 5, "
                                              "large 3)")
    p.add_argument("--official-files", nargs=3, metavar=("GT", "RESULTS", "OUT"),
                   help=argparse.SUPPRESS)   # the official evaluator's own process
    args = p.parse_args(argv)
    if args.official_files:
        gt_path, res_path, out_path = args.official_files
        Path(out_path).write_text(json.dumps(official_evaluate_files(gt_path, res_path)))
        return 0
    ok = True
    for name, params in (("small", SMALL), ("large", LARGE)):
        if args.case not in (name, "both"):
            continue
        params = dict(params)
        if args.videos:
            params["videos"] = args.videos
        if args.frames:
            params["frames"] = tuple(int(x) for x in args.frames.split("-"))
        if args.size:
            params["size"] = tuple(int(x) for x in args.size.lower().split("x"))
        repeat = args.repeat or (5 if name == "small" else 3)
        ok &= run_case(name, params, args.seed, repeat, in_process=name == "small")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    sys.exit(main())
