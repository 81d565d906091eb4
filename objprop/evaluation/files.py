"""`objprop evaluate`: files in, metrics JSON and a small table out."""
import contextlib
import gc

from ..data.ytvis import load_results, load_ytvis
from ..errors import ObjPropError
from ..io import write_json_atomic
from .hota import tracking_metrics
from .stability import stability_metrics
from .tracks import VideoPairs
from .ytvis_eval import STAT_NAMES, ytvis_evaluate


def evaluate_files(gt_path, results_path, out_path=None):
    """Load and validate both files, compute the 12 stats, per-category AP, the
    stability metrics and the tracking metrics (``HOTA``, ``DetA``, ``AssA`` as top-level
    keys beside ``AP``; all of them under ``tracking``, with their score threshold); write
    them to ``out_path`` (atomically) when given.

    A bad file is one ``ObjPropError`` line naming it; empty results score 0, they do not
    fail. Ground truth without annotations (the official valid split) cannot be scored:
    that is an error too, rather than a table of -1.
    """
    with _no_cycle_collection():
        return _evaluate_files(gt_path, results_path, out_path)


@contextlib.contextmanager
def _no_cycle_collection():
    """Python's cycle collector off meanwhile: parsing the files and building their tracks
    allocate hundreds of thousands of containers, none in a cycle, and each allocation
    burst made the collector walk all those alive so far again (a tenth of a large file's
    evaluation). What refers only to itself is collected once it is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _evaluate_files(gt_path, results_path, out_path):
    gt = load_ytvis(gt_path)
    if not gt["annotations"]:
        raise ObjPropError("has no annotations, so results cannot be scored against it "
                           "(the official valid/test splits ship without them: use a "
                           "minival split)", path=gt_path)
    results = load_results(results_path, gt)
    pairs = VideoPairs(gt, results)   # every metric reads the same per-frame intersections
    metrics = ytvis_evaluate(gt, results, pairs=pairs)
    metrics["stability"] = stability_metrics(gt, results, pairs=pairs)
    metrics["tracking"] = tracking_metrics(gt, results, pairs=pairs)
    metrics.update({k: metrics["tracking"][k] for k in ("HOTA", "DetA", "AssA")})
    metrics["gt"], metrics["results"] = str(gt_path), str(results_path)
    metrics["n_results"] = len(results)
    if out_path:
        write_json_atomic(metrics, out_path, indent=2)
    return metrics


def _pct(v):
    return "-" if v is None or v < 0 else f"{100 * v:.1f}"


def _num(v, fmt):
    return "n/a" if v is None else format(v, fmt)


def format_table(metrics):
    """The stats in percent (``-`` = no ground truth in that setting), per-category AP,
    and the stability metrics when present: what ``objprop evaluate`` prints."""
    lines = ["YouTube-VIS metrics (percent)",
             " ".join(f"{n:>6}" for n in STAT_NAMES),
             " ".join(f"{_pct(metrics[n]):>6}" for n in STAT_NAMES)]
    per_cat = metrics.get("per_category_AP")
    if per_cat:
        width = max(len(n) for n in per_cat)
        lines.append("AP per category:")
        lines += [f"  {n:<{width}} {_pct(v):>6}" for n, v in per_cat.items()]
    t = metrics.get("tracking")
    if t:
        lines.append(f"Tracking (TrackEval, results scoring >= {t['score_thr']}): "
                     f"HOTA {_pct(t['HOTA'])}  DetA {_pct(t['DetA'])}  AssA {_pct(t['AssA'])}  "
                     f"(detection-averaged HOTA {_pct(t['HOTA_det_av'])})  "
                     f"MOTA {100 * t['MOTA']:.1f}  IDF1 {_pct(t['IDF1'])}  ID switches {t['IDSW']}")
    s = metrics.get("stability")
    if s:
        lines.append(f"Temporal stability over {s['n_gt_tracks']} ground-truth tracks "
                     f"({_pct(s['matched_fraction'])}% matched):")
        lines.append(f"  missed frames {_pct(s['missed_frames'])}%   "
                     f"flicker {_num(s['flicker'], '.3f')}   "
                     f"fragmentation {_num(s['fragmentation'], '.3f')}   "
                     f"jitter {_num(s['jitter'], '.4f')}")
        if "recall_hard_frames" in s:
            lines.append(f"  frame recall: easy frames {_pct(s['recall_easy_frames'])}%, "
                         f"hard frames {_pct(s['recall_hard_frames'])}%")
    return "\n".join(lines)
