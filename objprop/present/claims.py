"""The claims chapter on the page: each of the paper's claims, the evidence this book
measured (read from the studies' JSON) and a verdict by rule.

As reproducibility reports do (the ML Reproducibility Challenge's format), each claim of the
paper is stated, the book's evidence for it is read from ``results/*.json``, and the verdict
follows from the numbers by one stated rule (:data:`RULE`), never by hand:

* **reproduced**: the effect has the paper's direction, and the paired mean difference over
  at least ``MIN_SEEDS`` training seeds is larger than the sum of the two sides' standard
  deviations (for a comparison on the same weights, larger than the differences' own
  standard deviation); a single-model measurement (the oracle study) needs the paper's
  ordering;
* **partly reproduced**: the paper's direction on the mean, not beyond the spread, or fewer
  seeds;
* **not reproduced**: the mean is zero or in the other direction;
* **untestable here**: the evidence needs what this machine does not have (the real data
  set), or the chapter that measures it did not run.
"""
from pathlib import Path

from .. import roles
from ..errors import ObjPropError
from ..paper import TABLE1 as PAPER_TABLE1
from ..studies.oracle import added_gains
from ..studies.scoring import STABILITY_SCORE_THR
from ..studies.stats import in_points, paired_difference
from ..studies.store import load_json
from ..tables import markdown_table
from .evaluation import format_difference

MIN_SEEDS = 3
VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "untestable here")
OVERHEAD_LIMIT = 1.25  # "limited computational overhead": at most 25 % more time per frame
RULE = (f"**reproduced**: the paper's direction, and the paired mean difference over ≥ "
        f"{MIN_SEEDS} training seeds exceeds the sum of both sides' standard deviations (on "
        f"the same weights: the differences' own standard deviation); **partly**: the "
        f"paper's direction on the mean only, or fewer seeds; **not reproduced**: no effect "
        f"or the opposite one; **untestable here**: it needs data or runs this book does not "
        f"have. Single-model studies (Table 1) need the paper's ordering. Overhead: at most "
        f"{OVERHEAD_LIMIT:.2f}x the baseline's inference time per frame, every run timed "
        f"on one machine under the same load (one thread, one run per core).")

STABILITY_KEYS = (("missed_frames", "missed frames"), ("flicker", "flicker"),
                  ("fragmentation", "fragmentation"))


def _load(results_dir, name):
    path = Path(results_dir) / f"{name}.json"
    if not path.is_file():
        return None
    return load_json(path)


def verdict_of(d, direction=+1, same_weights=False):
    """The verdict of a :func:`objprop.studies.stats.paired_difference` (``direction`` -1: lower
    is the paper's direction)."""
    if d is None:
        return "untestable here"
    mean = direction * d["mean"]
    if mean <= 0:
        return "not reproduced"
    if len(d["seeds"]) < MIN_SEEDS:
        return "partly reproduced"
    spread = d["std"] if same_weights else d["spread"]
    return "reproduced" if spread is not None and mean > spread else "partly reproduced"


def _stab(run, key, field="stability"):
    v = run.get(field, {}).get(key)
    return None if v is None else float(v)


def _stab_confident(run, key):
    """A stability metric on the results scoring at least ``STABILITY_SCORE_THR``."""
    return _stab(run, key, "stability_at_score")


def _time_per_frame(run, key):
    return run["inference_seconds"] / max(run["frames"], 1) if run.get("inference_seconds") \
        else None


def assess(results_dir="results"):
    """One row per claim: ``claim``, ``paper`` (what the paper reports), ``evidence`` (what
    this book measured, with its chapter), ``seeds``, ``verdict``."""
    from ..paper import ap
    objprop, baseline = ap("ObjProp"), ap("MaskTrack R-CNN")
    ev, oracle = _load(results_dir, "evaluation"), _load(results_dir, "oracle")
    measured = ev["methods"] if ev else []
    rows = []

    d = paired_difference(measured, roles.OBJPROP, roles.BASELINE) if ev else None
    rows.append(dict(
        claim="ObjProp outperforms MaskTrack R-CNN in mAP",
        paper=f"{objprop - baseline:+.1f} mAP ({objprop} vs {baseline}, YouTube-VIS 2019 val, "
        f"Table 2)", chapter="Evaluation",
        evidence=("ObjProp − MaskTrack R-CNN, paired by seed: " + format_difference(d)
                  + (f"; spread (sum of stds) {d['spread']:.1f}" if d and d["spread"] is not None
                     else "")) if d else "not measured",
        seeds=len(d["seeds"]) if d else 0, verdict=verdict_of(d)))

    rows.append(_oracle_row(oracle))

    parts, verdicts, n = [], [], 0
    for key, name in STABILITY_KEYS:
        d = paired_difference(measured, roles.OBJPROP, roles.BASELINE, key=key,
                              value=_stab_confident) if ev else None
        if d is None or any(v is None for v in d["per_seed"]):
            continue
        n = len(d["seeds"])
        verdicts.append(verdict_of(d, direction=-1))
        parts.append(f"{name} {d['b_mean']:.3f} → {d['a_mean']:.3f} ({verdicts[-1]})")
    rows.append(dict(
        claim="Propagation makes tracks temporally stable (fewer missed frames, less flicker "
        "and fragmentation)", paper="qualitative: Figures 1 and 4", chapter="Temporal stability",
        evidence=(f"results scoring ≥ {STABILITY_SCORE_THR}: " + "; ".join(parts)) if parts
        else "not measured", seeds=n, verdict=_combine(verdicts)))

    d = paired_difference(measured, roles.OBJPROP, roles.OBJPROP_NO_FILL, key="recall_hard_frames",
                          value=_stab) if ev else None
    if d is not None and any(v is None for v in d["per_seed"]):
        d = None
    rows.append(dict(
        claim="Filling recovers instances the detector misses", paper="qualitative "
        "(Sec. 2.2 *Inference*, Figure 4)", chapter="Propagation, Temporal stability",
        evidence=("hard-frame recall, filling on − off (same weights): "
                  + format_difference(in_points(d), unit=" points")) if d else "not measured",
        seeds=len(d["seeds"]) if d else 0, verdict=verdict_of(d, same_weights=True)))

    d = paired_difference(measured, roles.OBJPROP, roles.BASELINE, value=_time_per_frame) \
        if ev else None
    if d is not None and any(v is None for v in d["per_seed"]):
        d = None
    ratio = d["a_mean"] / d["b_mean"] if d else None
    rows.append(dict(
        claim="Limited computational overhead at inference", paper="stated, not measured "
        "(Conclusion)", chapter="Evaluation",
        evidence=(f"time per frame, ObjProp / MaskTrack R-CNN: {ratio:.2f}x "
                  f"({1000 * d['a_mean']:.0f} vs {1000 * d['b_mean']:.0f} ms, CPU)")
        if d else "not measured", seeds=len(d["seeds"]) if d else 0,
        verdict="untestable here" if d is None else
        "reproduced" if ratio <= OVERHEAD_LIMIT else "not reproduced"))

    rows.append(dict(
        claim=f"{objprop} mAP on YouTube-VIS 2019 val with ResNet-50", paper="Table 2",
        chapter="—", evidence="needs YouTube-VIS and a GPU schedule; ToyVIS numbers are not "
        "comparable", seeds=0, verdict="untestable here"))
    return rows


def _oracle_row(oracle):
    row = dict(claim="Masks limit MaskTrack R-CNN most (the mask oracle adds the most)",
               paper="", chapter="The oracle study", seeds=1 if oracle else 0)
    paper = max(added_gains(PAPER_TABLE1), key=lambda a: a[1])
    row["paper"] = f"+{paper[1]:.1f} mAP from the {paper[0]} oracle (Table 1)"
    if not oracle:
        return dict(row, evidence="not measured", verdict="untestable here")
    added = added_gains(oracle)
    label, gain, _ = max(added, key=lambda a: a[1])
    mask = next((a for a in added if a[0] == "mask"), None)
    if mask is None:
        return dict(row, evidence="no mask oracle row", verdict="untestable here")
    evidence = ("gains: " + ", ".join(f"{a[0]} {a[1]:+.1f}" for a in added)
                + " (one model: the first seed's)")
    return dict(row, evidence=evidence,
                verdict="reproduced" if label == "mask" else "not reproduced")


def _combine(verdicts):
    if not verdicts:
        return "untestable here"
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if all(v == "not reproduced" for v in verdicts):
        return "not reproduced"
    return "partly reproduced"


CLAIM_COLUMNS = [("The paper says", "paper"), ("Evidence here", "evidence"),
                 ("Chapter", "chapter"), ("Seeds", "seeds"), ("Verdict", "verdict")]


def claims_table(rows):
    """The claims as a markdown table (verdicts in bold)."""
    shown = [dict(r, verdict=f"**{r['verdict']}**", seeds=str(r["seeds"])) for r in rows]
    return markdown_table(shown, CLAIM_COLUMNS, first=("Claim", "claim"), extra=())


def require_results(results_dir):
    """The claims chapter reads what the others wrote: refuse, in one line, without it."""
    if not (Path(results_dir) / "evaluation.json").is_file():
        raise ObjPropError("no evaluation results: run the evaluation chapter first",
                           path=Path(results_dir) / "evaluation.json")
