"""The book's measured comparisons: methods scored on a split, Table 2, figures.

Chapters call these so that each cell stays a few lines; every number a chapter shows is
computed here from files the run wrote (results JSON, checkpoints), never typed in — except
the paper's own rows, quoted in :mod:`objprop.paper`.
"""
import json
import time
from collections import namedtuple
from pathlib import Path

from . import paper
from .errors import ObjPropError
from .tables import markdown_table  # also the chapters' report.markdown_table
from .evaluation.hota import TRACKING_SCORE_THR

TABLE2_COLUMNS = [("mAP", "AP"), ("AP@50", "AP50"), ("AP@75", "AP75"), ("AR@1", "AR1"),
                  ("AR@10", "AR10")]


# The stability metrics are also reported on the results scoring at least this much: low-score
# tracks (e.g. a false positive extended by filling) cannot buy them there. The tracking
# metrics (HOTA, ...) use the same threshold.
STABILITY_SCORE_THR = TRACKING_SCORE_THR


def find_checkpoint(config, results_dir="results", work_dir="work_dirs", seed=None):
    """The checkpoint the training chapter recorded for ``config`` and training ``seed``
    (``results/train.json``; ``seed=None``: the first recorded), else
    ``<work_dir>/<config name>/seed<seed>/latest.pth``."""
    from .training import run_dir
    train = Path(results_dir) / "train.json"
    if train.is_file():
        for run in json.loads(train.read_text()).get("runs", []):
            if (Path(run.get("config", "")).name == Path(config).name and run.get("checkpoint")
                    and seed in (None, run.get("seed"))):
                return run["checkpoint"]
    path = Path(run_dir(work_dir, config, 0 if seed is None else seed)) / "latest.pth"
    if not path.is_file():
        raise ObjPropError(f"no trained checkpoint for {config} (seed {seed}): run the "
                           f"training chapter first (looked in {train} and {path})")
    return str(path)


def trained_seeds(config, results_dir="results"):
    """The training seeds ``results/train.json`` holds a run of ``config`` for, in order."""
    runs = load_json(Path(results_dir) / "train.json").get("runs", [])
    return [r.get("seed") for r in runs if Path(r.get("config", "")).name == Path(config).name]


def score_method(name, config, checkpoint, data_root, split="valid", out_dir="results",
                 fill=True, max_videos=None, progress=True, cfg_options=None, seed=None):
    """Run one model online over a split, write its results file, and evaluate it.

    ``fill=False`` switches ObjProp's empty-instance filling off (same weights): the
    difference between the two isolates what propagation at test time adds.
    ``cfg_options`` (dotted keys, as ``--cfg-options``) change test-time settings only,
    e.g. the authors' thresholds or the tracker's rule, on the same weights.
    ``seed`` is the training seed of ``checkpoint``: recorded, and part of the results
    file's name. Returns a dict with the results path, the 12 YouTube-VIS stats,
    per-category AP and the temporal-stability metrics.
    """
    from .config import load_config
    from .evaluation import stability_metrics, ytvis_evaluate
    from .evaluation.tracks import VideoPairs
    from .inference import build_model, build_test_dataset, run_inference, set_max_fill
    from .io import safe_name, write_json_atomic
    cfg = load_config(config, data_root=data_root, test_split=split,
                      cfg_options=cfg_options)
    model = build_model(cfg, checkpoint)
    if not fill:
        set_max_fill(model, 0)
    dataset = build_test_dataset(cfg)
    ids = [v["id"] for v in dataset.vid_infos][:max_videos]
    t0 = time.perf_counter()
    results = run_inference(model, dataset, video_ids=ids, progress=progress)
    seconds = time.perf_counter() - t0  # same process, one run after another: comparable
    slug = safe_name(name)
    res_path = Path(out_dir) / (f"results_{slug}.json" if seed is None
                                else f"results_{slug}_seed{seed}.json")
    write_json_atomic(results, res_path)
    gt = subset_gt(cfg.data.test.ann_file, ids)
    pairs = VideoPairs(gt, results)   # per-frame intersections shared by every metric
    metrics = ytvis_evaluate(gt, results, pairs=pairs)
    return dict(method=name, seed=seed, config=str(config), checkpoint=str(checkpoint), fill=fill,
                cfg_options=dict(cfg_options or {}),
                results=str(res_path), ann_file=cfg.data.test.ann_file, video_ids=ids,
                stats={k: v for k, v in metrics.items() if k != "per_category_AP"},
                per_category_AP=metrics.get("per_category_AP", {}),
                stability=stability_metrics(gt, results, pairs=pairs),
                stability_at_score=stability_metrics(gt, results, pairs=pairs,
                                                     score_thr=STABILITY_SCORE_THR),
                filled_frames=int(sum(sum(r.get("filled", [])) for r in results)),
                inference_seconds=round(seconds, 3),
                frames=int(sum(v["length"] for v in gt["videos"])))


class Run(namedtuple("Run", "method config fill options what seeds", defaults=(None,))):
    """One measured row: a method's name, its config, filling on/off, test-time
    ``--cfg-options``, what it isolates, and how many of the config's training seeds to
    score (``None``: all of them; the first ``seeds`` otherwise)."""


def score_runs(runs, data_root, split="valid", out_dir="results", max_videos=None,
               cache=None):
    """Score each :class:`Run` (or plain tuple of its fields) of ``runs`` once per training
    seed ``results/train.json`` holds for its config (the first ``seeds`` of them when set);
    returns the scored runs, each with its ``seed`` and ``what``. ``cache`` (a dict, shared
    between calls) reuses a run already scored with the same config, seed, filling and
    options under another name."""
    cache = {} if cache is None else cache
    out = []
    for name, config, fill, options, what, max_seeds in (Run(*r) for r in runs):
        for seed in trained_seeds(config, out_dir)[:max_seeds]:
            key = (str(config), seed, bool(fill), json.dumps(options or {}, sort_keys=True))
            if key not in cache:
                cache[key] = score_method(name, config, find_checkpoint(config, out_dir,
                                                                        seed=seed),
                                          data_root, split, out_dir, fill=fill,
                                          max_videos=max_videos, progress=False,
                                          cfg_options=options or None, seed=seed)
            out.append(dict(cache[key], method=name, what=what))
    return out


def bootstrap_ap(gt, runs, sizes, draws=100, seed=0):
    """How much the choice of a split of ``n`` videos alone moves mAP. ``runs``: name →
    results list of one model each, scored on ``gt``. For each ``n`` in ``sizes``, ``draws``
    splits of ``n`` videos are drawn with replacement from ``gt``'s (each copy a new video,
    with its results) and every run is scored on the same draws. Rows: ``videos``, each
    run's mean mAP (percent) and its std over draws (``<name>_std``), and for two runs the
    first minus the second (``difference``, ``difference_std``): the split's share of a
    paired comparison's spread, with the models held fixed."""
    import numpy as np
    from .evaluation import ytvis_evaluate
    rng = np.random.default_rng(seed)
    videos, names = gt["videos"], list(runs)
    anns = {}
    for a in gt.get("annotations", []):
        anns.setdefault(a["video_id"], []).append(a)
    by_video = {name: {} for name in names}
    for name, results in runs.items():
        for r in results:
            by_video[name].setdefault(r["video_id"], []).append(r)
    rows = []
    for n in sizes:
        aps = {name: [] for name in names}
        for _ in range(draws):
            picks = list(enumerate(rng.integers(0, len(videos), n), 1))
            g = dict(gt, videos=[dict(videos[k], id=new) for new, k in picks], annotations=[])
            for new, k in picks:
                g["annotations"] += [dict(a, id=len(g["annotations"]) + i + 1, video_id=new)
                                     for i, a in enumerate(anns.get(videos[k]["id"], []))]
            for name in names:
                rs = [dict(r, video_id=new) for new, k in picks
                      for r in by_video[name].get(videos[k]["id"], [])]
                aps[name].append(100 * ytvis_evaluate(g, rs, per_category=False)["AP"])
        row = dict(videos=n)
        for name in names:
            row[name], row[f"{name}_std"] = float(np.mean(aps[name])), float(np.std(aps[name], ddof=1))
        if len(names) == 2:
            diff = np.array(aps[names[0]]) - np.array(aps[names[1]])
            row["difference"], row["difference_std"] = float(diff.mean()), float(diff.std(ddof=1))
        rows.append(row)
    return rows


def split_size_sentence(rows, names, seed_difference=None, target=1.0):
    """What :func:`bootstrap_ap` says about the split: the spread the split alone puts on
    the paired difference ``names[0] − names[1]`` at each size, against the seeds' spread,
    whether the split's size meets the rule ToyVIS's valid split was sized by (its own
    spread at most half the seeds'; ``objprop/data/toyvis.py``), and the size at which the
    split's share would fall to ``target`` points (extrapolated as 1/√n from the largest
    size measured)."""
    import math
    parts = [f"{r['videos']} videos: ± {r['difference_std']:.1f}" for r in rows]
    last, here = rows[-1], rows[0]
    need = math.ceil(last["videos"] * (last["difference_std"] / target) ** 2)
    text = (f"With the models held fixed, drawing the split alone moves the difference "
            f"{names[0]} − {names[1]} by (std over draws): " + "; ".join(parts) + ". ")
    seed_std = (seed_difference or {}).get("std")
    if seed_std is not None:
        holds = here["difference_std"] <= seed_std / 2
        text += (f"Between training seeds the same difference varies by ± {seed_std:.1f}. "
                 f"The rule the split was sized by, its own spread at most half the seeds' "
                 f"(± {seed_std / 2:.1f}), {'holds' if holds else 'does not hold'} at its "
                 f"{here['videos']} videos (± {here['difference_std']:.1f}). ")
    return text + (f"To bring the split's share under {target:.0f} point a split of about "
                   f"{need} videos is needed.")


def subset_gt(ann_file, video_ids):
    """The ground truth restricted to ``video_ids`` (smoke runs score a few videos)."""
    gt = json.loads(Path(ann_file).read_text())
    keep = set(video_ids)
    return dict(gt, videos=[v for v in gt["videos"] if v["id"] in keep],
                annotations=[a for a in gt["annotations"] if a["video_id"] in keep])


# Test-time settings of the ObjProp authors' release (anirudh-chakravarthy/ObjProp at
# 34e9957): score 0.001 and 100 detections a frame in their test config, one-frame tracks
# dropped when writing results (mmdet/core/evaluation/coco_utils.py lines 231-232).
AUTHORS_TEST_OPTIONS = {"model.test_cfg.rcnn.score_thr": 0.001,
                        "model.test_cfg.rcnn.max_per_img": 100,
                        "test_results.min_frames": 2}
RELEASED_INFERENCE_NOTE = (
    "The authors' released inference never propagates a mask: in "
    "`mmdet/models/detectors/two_stage.py` (anirudh-chakravarthy/ObjProp at 34e9957), "
    "lines 441-444 read `if img_meta[0]['video_id'] == 6: pdb.set_trace() else: continue`, "
    "so every propagation is skipped (and video index 6 raises `NameError`: that file "
    "imports no `pdb`). The row *as released* is their model with filling off; *filling as "
    "intended* runs the filling that code would have run.")


# the fidelity section's test-time variants of the baseline are scored on this many training
# seeds (the first): they isolate one setting on fixed weights, and each costs a full pass
# over the valid split, which the 45-minute budget of `make book` cannot pay three times
TEST_VARIANT_SEEDS = 1


def fidelity_runs(baseline_config, config, authors_config):
    """The measured comparison of the fidelity section, as :class:`Run`s. Same data and
    training budget for every config; the test-time variants reuse the same weights and run
    on the first ``TEST_VARIANT_SEEDS`` seeds."""
    greedy = {"model.test_cfg.track.type": "GreedyTracker"}
    return [Run(*r) for r in [
        ("MaskTrack R-CNN", baseline_config, True, {},
         "MaskTrack R-CNN's own tracker and test thresholds"),
        ("MaskTrack R-CNN, greedy tracker", baseline_config, True, greedy,
         "this book's former tracking rule, same weights", TEST_VARIANT_SEEDS),
        ("MaskTrack R-CNN, authors' test settings", baseline_config, True,
         AUTHORS_TEST_OPTIONS, "the authors' thresholds alone, same weights",
         TEST_VARIANT_SEEDS),
        ("ObjProp (paper text)", config, True, {}, "the paper as written, with filling"),
        ("ObjProp (paper text), no filling", config, False, {}, "same weights, filling off"),
        ("ObjProp (authors' code, as released)", authors_config, False, {},
         "their choices; inference as shipped: nothing propagated"),
        ("ObjProp (authors' code, filling as intended)", authors_config, True, {},
         "their choices with their filling switched on"),
    ]]


def fidelity_rows(measured):
    """One row per fidelity run: Table 2's columns in percent (mean ± std over the seeds it
    ran with), mean filled frames, what it isolates."""
    rows = summary_rows(measured, [k for _, k in TABLE2_COLUMNS], percent)
    filled = {m: mean_std([r.get("filled_frames", 0) for r in recs])[0]
              for m, recs in by_method(measured).items()}
    what = {m["method"]: m.get("what", "") for m in measured}
    for r in rows:
        r.update(what=what[r["method"]], filled=f"{filled[r['method']]:.0f}")
    return rows


def fidelity_sentence(measured):
    """What the fidelity rows isolate, in numbers: the tracker's effect, the thresholds'
    effect and the branch's effect at the same thresholds (paired over common seeds)."""
    pairs = [("MaskTrack R-CNN, greedy tracker", "MaskTrack R-CNN",
              "this book's former greedy tracker instead of MaskTrack R-CNN's"),
             ("MaskTrack R-CNN, authors' test settings", "MaskTrack R-CNN",
              "the authors' test settings alone, on the baseline's weights"),
             ("ObjProp (authors' code, as released)", "MaskTrack R-CNN, authors' test settings",
              "the authors' ObjProp as released (trained on top of the baseline's "
              "checkpoint, so with the baseline's iterations plus its own) against the "
              "baseline at the same settings"),
             ("ObjProp (authors' code, filling as intended)",
              "ObjProp (authors' code, as released)", "their filling, switched on"),
             ("ObjProp (paper text)", "MaskTrack R-CNN",
              "ObjProp as the paper describes it against MaskTrack R-CNN")]
    parts = []
    for a, b, what in pairs:
        d = paired_difference(measured, a, b)
        if d:
            parts.append(f"{what}: {format_difference(d)}")
    return ("Differences in mAP, paired by training seed: " + "; ".join(parts) + "."
            if parts else "No fidelity runs were measured.")


# ----------------------------------------------------------------------------- over seeds

def percent(record, key):
    """A YouTube-VIS stat of one scored run, in percent (None where it is undefined)."""
    v = record["stats"].get(key)
    return None if v is None or v < 0 else 100 * v


def mean_std(values):
    """(mean, sample standard deviation) of a list of numbers; the std is None for one."""
    import numpy as np
    a = np.asarray(values, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def by_method(measured):
    """Method name → its scored runs (one per training seed), in first-seen order."""
    out = {}
    for m in measured:
        out.setdefault(m["method"], []).append(m)
    return out


def summary_rows(measured, keys, value):
    """One row per method: for each key its mean over the method's seeds (``row[key]``),
    the sample std (``row[key + '_std']``, None for one seed) and the per-seed values
    (``row['per_seed'][key]``, in the order of ``row['seed_list']``); ``value(run, key)``
    reads one run's number."""
    rows = []
    for method, runs in by_method(measured).items():
        row = dict(method=method, seeds=len(runs), seed_list=[r.get("seed") for r in runs],
                   per_seed={})
        for key in keys:
            vals = [value(r, key) for r in runs]
            if any(v is None for v in vals):
                continue
            row[key], row[key + "_std"] = mean_std(vals)
            row["per_seed"][key] = vals
        rows.append(row)
    return rows


def paired_difference(measured, a, b, key="AP", value=percent):
    """Method ``a`` minus method ``b`` on ``key``, per training seed both ran with: the
    per-seed differences, their mean and sample std, and each method's own mean ± std over
    those seeds. None when they share no seed with the number defined."""
    runs = by_method(measured)
    ra = {r.get("seed"): value(r, key) for r in runs.get(a, [])}
    rb = {r.get("seed"): value(r, key) for r in runs.get(b, [])}
    # a seed counts where both sides have the number (a metric can be undefined, e.g.
    # hard-frame recall on data without hard frames)
    seeds = [s for s in ra if s in rb and ra[s] is not None and rb[s] is not None]
    if not seeds:
        return None
    diffs = [ra[s] - rb[s] for s in seeds]
    (ma, sa), (mb, sb), (md, sd) = (mean_std([ra[s] for s in seeds]),
                                    mean_std([rb[s] for s in seeds]), mean_std(diffs))
    spread = None if sa is None else sa + sb
    return dict(a=a, b=b, key=key, seeds=seeds, per_seed=diffs, mean=md, std=sd,
                a_mean=ma, a_std=sa, b_mean=mb, b_std=sb, spread=spread,
                exceeds_spread=None if spread is None else abs(md) > spread)


def format_difference(d, unit=" mAP"):
    """``+1.0 mAP (per seed +2.0, -0.5, +1.5)`` for a :func:`paired_difference`."""
    if len(d["seeds"]) == 1:
        return f"{d['mean']:+.1f}{unit} (one seed)"
    per = ", ".join(f"{x:+.1f}" for x in d["per_seed"])
    return f"{d['mean']:+.1f} ± {d['std']:.1f}{unit} (per seed {per})"


def table2_rows(measured, data_name="ToyVIS"):
    """Paper rows (quoted) then measured rows: percent, mean ± std over training seeds."""
    rows = [dict(r, source="paper (YouTube-VIS 2019 val)") for r in paper.TABLE2]
    for r in summary_rows(measured, [k for _, k in TABLE2_COLUMNS], percent):
        rows.append(dict(r, source=f"measured here ({data_name}), {r['seeds']} "
                                   f"seed{'s' if r['seeds'] > 1 else ''}"))
    return rows


def plot_table2(rows):
    """Grouped bars: each Table 2 column, paper rows hatched, measured rows solid with the
    seeds' standard deviation as an error bar."""
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(9, 3.6))
    n = len(rows)
    width = 0.8 / n
    x = np.arange(len(TABLE2_COLUMNS))
    for i, r in enumerate(rows):
        quoted = r["source"].startswith("paper")
        err = [r.get(f"{k}_std") or 0.0 for _, k in TABLE2_COLUMNS]
        ax.bar(x + i * width, [r[k] for _, k in TABLE2_COLUMNS], width,
               yerr=None if quoted else err, capsize=2,
               label=f"{r['method']} ({'paper' if quoted else 'here'})",
               hatch="//" if quoted else None, alpha=0.55 if quoted else 0.95)
    ax.set_xticks(x + 0.4 - width / 2, [h for h, _ in TABLE2_COLUMNS])
    ax.set_ylabel("percent")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Table 2: the paper's rows (hatched) beside the rows measured here "
                 "(mean, bar: std over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def gain_sentence(measured):
    """ObjProp against MaskTrack R-CNN, from the measured rows: means over training seeds,
    the paired per-seed differences, and whether the gain exceeds the two methods' spread."""
    d = paired_difference(measured, "ObjProp", "MaskTrack R-CNN")
    if not d:
        return "Both models are needed for a comparison."
    n = len(d["seeds"])
    sd = (lambda v: "" if v is None else f" ± {v:.1f}")
    parts = [f"Over {n} training seed{'s' if n > 1 else ''}, ObjProp scores "
             f"**{d['a_mean']:.1f}{sd(d['a_std'])} mAP** against the baseline's "
             f"**{d['b_mean']:.1f}{sd(d['b_std'])}** (mean ± sample std); paired by seed the "
             f"difference is {format_difference(d)} (the paper: "
             f"{paper.ap('ObjProp') - paper.ap('MaskTrack R-CNN'):+.1f} on YouTube-VIS)."]
    if d["exceeds_spread"] is None:
        parts.append("With one seed there is no spread to compare the difference with: run "
                     "more training seeds before reading it as a gain.")
    elif d["exceeds_spread"]:
        parts.append(f"The mean difference exceeds the sum of the two standard deviations "
                     f"({d['spread']:.1f}): larger than seed-to-seed variation.")
    else:
        parts.append(f"The mean difference is within the sum of the two standard deviations "
                     f"({d['spread']:.1f}): not distinguishable from seed-to-seed variation.")
    f = paired_difference(measured, "ObjProp", "ObjProp (no filling)")
    if f:
        filled = mean_std([r["filled_frames"] for r in by_method(measured)["ObjProp"]])[0]
        parts.append(f"Filling missed instances by propagation (same weights, on and off) "
                     f"accounts for {format_difference(f)}, with {filled:.0f} instance-frames "
                     f"filled per run on average.")
    return " ".join(parts)


def load_json(path):
    """A results file a previous chapter wrote, or a one-line error saying which chapter."""
    from .data.ytvis import load_json as read_json
    path = Path(path)
    if not path.is_file():
        raise ObjPropError(f"missing: run the {path.stem} chapter first", path=path)
    return read_json(path, what=f"results of the {path.stem} chapter")


def load_measured(results_dir="results"):
    """The evaluation chapter's measured methods (``results/evaluation.json``)."""
    return load_json(Path(results_dir) / "evaluation.json")


def pick_showcase_video(gt, results, video_ids=None):
    """The video where propagation filled the most instance-frames (ties: the most hard
    frames): where the qualitative figure can show what the method changes."""
    filled = {}
    for r in results:
        filled[r["video_id"]] = filled.get(r["video_id"], 0) + sum(r.get("filled", []))
    videos = [v for v in gt["videos"] if video_ids is None or v["id"] in video_ids]
    if not videos:
        raise ObjPropError("no video to show")
    return max(videos, key=lambda v: (filled.get(v["id"], 0), len(v.get("hard_frames", {})),
                                      -v["id"]))


STABILITY_COLUMNS = [  # (header, key, what a reader should want: lower or higher)
    ("missed frames", "missed_frames", "lower"), ("flicker", "flicker", "lower"),
    ("fragmentation", "fragmentation", "lower"), ("jitter", "jitter", "lower"),
    ("recall, easy frames", "recall_easy_frames", "higher"),
    ("recall, hard frames", "recall_hard_frames", "higher")]


def stability_rows(measured, at_score=False):
    """One row per method: its temporal-stability metrics, mean ± std over its seeds
    (``at_score``: on the results scoring at least ``STABILITY_SCORE_THR``)."""
    field = "stability_at_score" if at_score else "stability"

    def value(run, key):
        v = run.get(field, {}).get(key)
        return None if v is None else float(v)
    return summary_rows(measured, [k for _, k, _ in STABILITY_COLUMNS], value)


TRACKING_COLUMNS = [("HOTA", "HOTA"), ("DetA", "DetA"), ("AssA", "AssA"),
                    ("HOTA (det. av.)", "HOTA_det_av"), ("MOTA", "MOTA"), ("IDF1", "IDF1"),
                    ("ID switches", "IDSW")]


def tracking_rows(measured, score_thr=STABILITY_SCORE_THR):
    """One row per method: HOTA, DetA, AssA, MOTA, IDF1 (percent) and ID switches of its
    results files (:func:`objprop.evaluation.hota.tracking_metrics`, results scoring at
    least ``score_thr``), mean ± std over its seeds."""
    from .data.ytvis import load_results
    from .evaluation.hota import tracking_metrics
    scored = []
    for run in measured:
        gt = subset_gt(run["ann_file"], run["video_ids"])
        m = tracking_metrics(gt, load_results(run["results"], gt), score_thr=score_thr)
        scored.append(dict(run, tracking=m))
    return summary_rows(scored, [k for _, k in TRACKING_COLUMNS],
                        lambda r, k: r["tracking"][k] * (1 if k == "IDSW" else 100))


def plot_stability(rows):
    """One panel per stability metric, a bar per method."""
    import matplotlib.pyplot as plt
    cols = [c for c in STABILITY_COLUMNS if any(c[1] in r for r in rows)]
    fig, axes = plt.subplots(1, len(cols), figsize=(2.3 * len(cols), 2.8), squeeze=False)
    for ax, (header, key, better) in zip(axes[0], cols):
        ax.bar(range(len(rows)), [r.get(key, 0.0) for r in rows],
               yerr=[r.get(f"{key}_std") or 0.0 for r in rows], capsize=2,
               color=[f"C{i}" for i in range(len(rows))])
        ax.set_title(f"{header}\n({better} is better)", fontsize=8)
        ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=35, ha="right",
                      fontsize=7)
    fig.tight_layout()
    return fig


def stability_sentence(rows):
    """What the stability numbers say about ObjProp against the baseline, from the rows."""
    by = {r["method"]: r for r in rows}
    base, obj = by.get("MaskTrack R-CNN"), by.get("ObjProp")
    if not (base and obj):
        return "Both models are needed for a comparison."
    parts = []
    for header, key, better in STABILITY_COLUMNS:
        if key in base and key in obj:
            d = obj[key] - base[key]
            good = (d < 0) if better == "lower" else (d > 0)
            verdict = "better" if good else ("the same" if d == 0 else "worse")
            parts.append(f"{header} {base[key]:.3f} → {obj[key]:.3f} ({verdict})")
    return (f"MaskTrack R-CNN → ObjProp (means over {obj.get('seeds', 1)} seeds): "
            + "; ".join(parts) + ".")


README_BEGIN = "<!-- results:begin (written by `make book` from results/*.json) -->"
README_END = "<!-- results:end -->"


def readme_results_block(results_dir="results"):
    """The README's measured-results block, from the files the book's run wrote."""
    from .oracle import table1_markdown
    results_dir = Path(results_dir)
    ev = load_json(results_dir / "evaluation.json")
    train = load_json(results_dir / "train.json")["runs"]
    seeds = sorted({r.get("seed") for r in train})
    lines = [README_BEGIN, "",
             f"Measured by the last `make book` on {ev.get('data_root')} ({ev.get('split')} "
             f"split, {len(ev['methods'][0].get('video_ids', []))} videos); percent, mean ± "
             f"sample standard deviation over training seeds {', '.join(map(str, seeds))} "
             f"(the Source column says how many each row has):", ""]
    lines.append(training_summary(train))
    lines += ["", markdown_table(table2_rows(ev["methods"])[len(paper.TABLE2):],
                                 TABLE2_COLUMNS), "", gain_sentence(ev["methods"]), ""]
    if ev.get("fidelity"):
        lines += ["Fidelity (the paper's text, the authors' code, MaskTrack R-CNN; "
                  "evaluation chapter):", "",
                  markdown_table(fidelity_rows(ev["fidelity"]), TABLE2_COLUMNS,
                                 extra=(("filled frames", "filled"),)), "",
                  fidelity_sentence(ev["fidelity"]), ""]
    timings = results_dir / "book_timings.json"
    if timings.is_file():
        t = json.loads(timings.read_text())
        slow = sorted(t["chapters"].items(), key=lambda kv: -kv[1])[:3]
        trained = sum(r.get("seconds") or 0 for r in train)
        lines += [f"That `make book` ran its chapters in {t['total_s'] / 60:.0f} min "
                  f"(training seeds {', '.join(map(str, t['seeds']))}; longest: "
                  + ", ".join(f"{k} {v / 60:.1f} min" for k, v in slow)
                  + f"), on this machine; set-up not included. Its {len(train)} training "
                  f"runs took {trained / 60:.0f} min when they trained (a finished run is "
                  f"reused, not trained again, and keeps its own time).", ""]
    oracle = results_dir / "oracle.json"
    if oracle.is_file():
        lines += ["Table 1 (oracle study, percent):", "",
                  table1_markdown(json.loads(oracle.read_text()), paper=True), ""]
    lines.append(README_END)
    return "\n".join(lines)


def training_summary(runs):
    """One line per trained method: iterations, batch, its seeds, and each run's s/iteration
    (with its thread count, where recorded)."""
    out = []
    for method, rs in by_method(runs).items():
        spi = [f"{r['s_per_iter']:.2f}" + (f" ({r['threads']} thread"
                                           f"{'s' if r['threads'] > 1 else ''})"
                                           if r.get("threads") else "")
               for r in rs if r.get("s_per_iter") is not None]
        out.append(f"- {method}: {rs[0].get('iters')} iterations, batch {rs[0].get('batch')}, "
                   f"seed{'s' if len(rs) > 1 else ''} "
                   f"{', '.join(str(r.get('seed')) for r in rs)}"
                   + (f"; s/iteration by seed {', '.join(spi)}" if spi else ""))
    return "\n".join(out)


def update_readme(readme, results_dir="results"):
    """Rewrite the block between the README's result markers (atomically)."""
    from .io import write_text_atomic
    readme = Path(readme)
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ObjPropError("no results markers to rewrite", path=readme)
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    write_text_atomic(head + readme_results_block(results_dir) + tail, readme)
