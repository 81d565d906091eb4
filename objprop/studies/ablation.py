"""Which of the authors' choices carry their preset's gain (`make ablation`): the preset as
released, and the preset with one choice at a time put back to the paper's ObjProp, on the
same seeds, scored on the tuning split. Compute only; :mod:`objprop.present.evaluation`
shows ``results/ablation.json``.

A choice set at training (the branch's features, its affinity, its targets, the reference
frames) is left out by training the preset again from the same baseline checkpoint with that
choice reverted; a choice used only at test time is left out on the preset's own weights. A
choice's contribution is the paired difference, seed by seed, of the preset as released minus
the preset without it. The values put back are read from the paper's config (where it leaves
a key unset, from the registered class's default), so the study follows the configs and no
value is typed here. Before anything trains, the preset is compared with its equal-budget
control (MaskTrack R-CNN trained on from the same checkpoint) on the same split, at the
authors' test settings and at the baseline's: where it beats the control at neither, there is
no gain to attribute and the study says so and stops (``force`` runs it anyway).

Whatever that gap, the study also tells the authors' *recipe* from their *design*: the
paper's ObjProp fine-tuned from the same baseline checkpoint for the preset's iterations
(``configs/objprop_r18_fpn_toy_from_baseline.py``; the book's run where ``make book
RECIPE_SEEDS=n`` made one, else trained here), at the baseline's test settings with the
paper's filling. Paired by seed: the recipe with the paper's design against the control
(what fine-tuning a trained baseline with the paper's head gives over training the baseline
on), and the preset against it at the same test thresholds (what their head and their
filling, as released, give at the same recipe and budget).
"""
import inspect
from dataclasses import dataclass
from pathlib import Path

from .. import roles
from .verdict import REPRODUCED

SPLIT = "tune"
_MISSING = object()


@dataclass(frozen=True)
class Choice:
    """One of the authors' choices: the config keys that make it, and when it acts."""
    name: str
    when: str                  # "train": retrain without it; "test": same weights
    keys: tuple
    fill: bool = False         # leaving it out switches the filling on (the paper fills)


# The authors' choices (configs/objprop_r18_fpn_authors_toy.py says where each comes from in
# their code). Every key where the paper's and the authors' configs differ belongs to one
# choice: tests/test_ablation.py checks it with config_diff.
CHOICES = (
    Choice("features and stride", "train",
           ("model.prop_head.in_levels", "model.prop_head.feat_stride")),
    Choice("projected attention", "train",
           ("model.prop_head.feat_proj", "model.prop_head.proj_channels",
            "model.prop_head.att_features")),
    Choice("unscaled affinity and fixed attention scale", "train",
           ("model.prop_head.affinity_scale", "model.prop_head.learn_att_scale")),
    Choice("attention trained towards the box", "train", ("model.prop_head.att_target",)),
    Choice("class-specific masks", "train",
           ("model.prop_head.class_specific", "model.prop_head.num_classes")),
    Choice("any-frame reference sampling", "train", ("data.train.ref_sampling",)),
    Choice("test-time spatial prior", "test", ("model.prop_head.test_spatial_sigma",)),
    # as released their filling never runs; left out, the paper's filling runs instead
    Choice("their filling (none, as released)", "test", ("model.test_cfg.prop",), fill=True),
    Choice("their test thresholds and one-frame-track removal", "test",
           ("model.test_cfg.rcnn.score_thr", "model.test_cfg.rcnn.max_per_img",
            "test_results.min_frames")),
    Choice("cosine matching at test", "test", ("model.roi_head.track_head.normalize_at_test",)),
)


def class_default(type_name, arg):
    """The default of ``arg`` in the registered class ``type_name`` (a model part or a data
    set), which a config that leaves ``arg`` unset gets."""
    import objprop.data  # noqa: F401  (registers the data sets)
    import objprop.models  # noqa: F401  (registers the heads)
    from mmdet.datasets import DATASETS
    from mmdet.models.builder import MODELS
    for registry in (MODELS, DATASETS):
        cls = registry.get(type_name)
        if cls is not None:
            p = inspect.signature(cls.__init__).parameters.get(arg)
            if p is not None and p.default is not inspect.Parameter.empty:
                return p.default
    raise KeyError(f"{type_name} has no default for {arg!r}")


def config_value(cfg, key):
    """The value a config gives a dotted ``key``: set there, else its class's default."""
    node = cfg
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    if last in node:
        value = node[last]
        return value.to_dict() if hasattr(value, "to_dict") else value
    return class_default(node["type"], last)


def config_diff(a, b, prefix=""):
    """``{dotted key: (value in a, value in b)}`` for every leaf where two config dicts
    differ; a sub-dict whose ``type`` differs is one leaf, an absent key ``_MISSING``."""
    if isinstance(a, dict) and isinstance(b, dict) and a.get("type") == b.get("type"):
        out = {}
        for k in sorted(set(a) | set(b), key=str):
            out.update(config_diff(a.get(k, _MISSING), b.get(k, _MISSING),
                                   f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {} if a == b else {prefix: (a, b)}


def revert_options(choice, paper_cfg, authors_cfg):
    """The ``--cfg-options`` that put ``choice`` back to the paper's config's values; empty
    when the two configs agree on it (nothing to leave out)."""
    options = {}
    for key in choice.keys:
        paper = config_value(paper_cfg, key)
        if paper == config_value(authors_cfg, key):
            continue
        options[key] = dict(paper, _delete_=True) if isinstance(paper, dict) else paper
    return options


def _iterations(checkpoint):
    """The iterations of the run that wrote ``checkpoint`` (its ``train_summary.json``)."""
    import json

    from ..errors import ObjPropError
    from ..training.settings import SUMMARY_NAME
    path = Path(checkpoint).parent / SUMMARY_NAME
    if not path.is_file():
        raise ObjPropError(f"no {SUMMARY_NAME} beside the checkpoint: cannot tell how long "
                           f"the preset trained", path=checkpoint)
    return int(json.loads(path.read_text())["iters"])


def _configs():
    return (roles.TOY_CONFIGS[roles.OBJPROP], roles.TOY_CONFIGS[roles.AUTHORS],
            roles.TOY_CONFIGS[roles.CONTINUED], roles.TOY_CONFIGS[roles.BASELINE])


# the recipe-vs-design rows: (key, a, b) of the paired difference a − b
RECIPE = "paper's ObjProp from the baseline"
RECIPE_COMPARISONS = (
    ("recipe", RECIPE, "control at the baseline's test settings"),
    ("design", "released at the baseline's test settings", RECIPE))


def _book_run(config, results_dir, work_dir, seed):
    """The book's checkpoint of ``config`` and ``seed``, None where the book trained none."""
    from ..errors import ObjPropError
    from .store import find_checkpoint
    try:
        found = find_checkpoint(config, results_dir, work_dir, seed)
    except ObjPropError:
        return None
    return found if Path(found).is_file() else None


def _paired(rows, a, b):
    """``a`` − ``b`` in mAP, seed by seed (:func:`objprop.studies.stats.paired_difference`
    over the variants), with its verdict (> 0: a is better)."""
    from .stats import paired_difference
    from .verdict import assess_difference
    d = paired_difference([dict(r, role=r["variant"]) for r in rows], a, b,
                          value=lambda r, key: r[key])
    return None if d is None else dict(d, **assess_difference(d["per_seed"]))


def run_ablation(data_root, seeds, results_dir="results", work_dir="work_dirs",
                 ablation_dir="work_dirs/ablation", choices=None, force=False,
                 max_videos=None, jobs=None, log=print):
    """The study; writes ``results/ablation.json`` and returns it. The book's runs (baseline,
    the preset and its control, per seed) are found in ``results/train.json`` or
    ``work_dir``; the retrained variants go to ``ablation_dir``."""
    import time

    from ..config import load_config
    from ..io import safe_name, write_json_atomic
    from ..training import TrainSettings, parallel_jobs, run_dir, train_subprocesses
    from .fidelity import AUTHORS_TEST_OPTIONS, baseline_test_options
    from .jobs import run_jobs
    from .scoring import score_method
    from .store import find_checkpoint
    t0 = time.time()
    jobs = jobs or parallel_jobs()
    paper, authors, continued, baseline = _configs()
    paper_cfg, authors_cfg = load_config(paper), load_config(authors)
    choices = [c for c in CHOICES if choices is None or c.name in choices]
    ckpt = {(cfg, s): find_checkpoint(cfg, results_dir, work_dir, s)
            for cfg in (baseline, authors, continued) for s in seeds}
    out_dir = Path(results_dir) / "ablation"

    def score_calls(entries):
        """entries: (variant, config, checkpoint, seed, fill, options) → rows"""
        calls = [((f"ablation_{safe_name(v)}", cfg, ck, data_root, SPLIT, str(out_dir)),
                  dict(fill=fill, cfg_options=opts, seed=s, max_videos=max_videos,
                       progress=False)) for v, cfg, ck, s, fill, opts in entries]
        return [dict(variant=e[0], seed=e[3], AP=100 * m["stats"]["AP"], options=e[5], fill=e[4])
                for e, m in zip(entries, run_jobs(score_method, calls, jobs))]

    base_opts = baseline_test_options(baseline)
    rows = score_calls(
        [("released", authors, ckpt[authors, s], s, False, {}) for s in seeds]
        + [("control", continued, ckpt[continued, s], s, True, AUTHORS_TEST_OPTIONS)
           for s in seeds]
        + [("released at the baseline's test settings", authors, ckpt[authors, s], s, False,
            base_opts) for s in seeds]
        + [("control at the baseline's test settings", continued, ckpt[continued, s], s, True,
            {}) for s in seeds])
    gap = {"authors' test settings": _paired(rows, "released", "control"),
           "baseline's test settings": _paired(
               rows, "released at the baseline's test settings",
               "control at the baseline's test settings")}
    beats = any(g and g["verdict"] == REPRODUCED for g in gap.values())
    # the authors' recipe with the paper's design: the book's run, else one trained here
    iters = {s: _iterations(ckpt[authors, s]) for s in seeds}
    recipe_cfg = roles.TOY_CONFIGS[roles.FROM_BASELINE]
    recipe = {s: _book_run(recipe_cfg, results_dir, work_dir, s) for s in seeds}
    missing = {s: TrainSettings(recipe_cfg, data_root=data_root, seed=s, resume=True,
                                max_iters=iters[s],
                                work_dir=run_dir(Path(ablation_dir) / "recipe", recipe_cfg, s),
                                cfg_options=dict(load_from=ckpt[baseline, s]))
               for s in seeds if recipe[s] is None}
    if missing:
        recipe.update({s: summary["checkpoint"] for s, summary in
                       train_subprocesses(missing, jobs=jobs, log=log).items()})
    rows += score_calls([(RECIPE, recipe_cfg, recipe[s], s, True, {}) for s in seeds])
    out = dict(split=SPLIT, data_root=str(data_root), seeds=list(seeds), gap=gap, beats=beats,
               recipe={key: _paired(rows, a, b) for key, a, b in RECIPE_COMPARISONS},
               choices=[], rows=rows)
    if beats or force:
        plans = [(c, revert_options(c, paper_cfg, authors_cfg)) for c in choices]
        # the preset's own iterations, as the book trained it: an equal budget
        train = {(c.name, s): TrainSettings(
                    authors, data_root=data_root, seed=s, resume=True, max_iters=iters[s],
                    work_dir=run_dir(Path(ablation_dir) / safe_name(c.name), authors, s),
                    cfg_options=dict(opts, load_from=ckpt[baseline, s]))
                 for c, opts in plans if c.when == "train" and opts for s in seeds}
        trained = train_subprocesses(train, jobs=jobs, log=log) if train else {}
        entries = []
        for c, opts in plans:
            if not opts:
                continue
            for s in seeds:
                weights = (trained[c.name, s]["checkpoint"] if c.when == "train"
                           else ckpt[authors, s])
                # a retrained variant is tested as it was built (its head's shape too)
                entries.append((c.name, authors, weights, s, c.fill, opts))
        rows += score_calls(entries)
        for c, opts in plans:
            out["choices"].append(dict(
                name=c.name, when=c.when, options={k: str(v) for k, v in opts.items()},
                contribution=_paired(rows, "released", c.name) if opts else None))
    out["seconds"] = round(time.time() - t0, 1)
    write_json_atomic(out, Path(results_dir) / "ablation.json", indent=2)
    return out
