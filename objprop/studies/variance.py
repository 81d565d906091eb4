"""What drives the spread of the central comparison (`make variance`): ObjProp minus
MaskTrack R-CNN, with one source of variation varied at a time.

The central claim's verdict is a paired difference over training seeds, and its power is set
by how much that difference moves from seed to seed. A training seed moves several things at
once; as Bouthillier et al. (*Accounting for Variance in Machine Learning Benchmarks*, MLSys
2021) decompose a benchmark's variance, each source is varied alone here, the others held at
a reference (training seed 0, data seed 0, one thread, the toy configs' bf16 autocast):

* ``all``: the book's training seed, both of the sources below together;
* ``init``: the initialisation (``--seed``): with the pretrained start, the weights it does
  not hold (the track head, the propagation branch, the re-sized class layers' new rows);
* ``order``: everything drawn after the initialisation (``--data-seed``): the data order,
  the augmentation, the proposal sampling;
* ``threads``: two threads instead of one, the same seeds (the order of float sums: the
  book's trainings take the cores they find free);
* ``float32``: float32 instead of the bf16 autocast while training, the same seeds;
* ``videos``: which videos the split holds, with the models held fixed (the reference
  pair's results, resampled by video: :func:`objprop.studies.stats.bootstrap_ap`), at the
  tune split's size and at the valid split's.

Every model trains from the pretrained start for the book's iterations and is scored on
ToyVIS's **tune** split (the number of seeds and the split's size are the book's settings,
chosen there, never on valid). Compute only; the claims chapter reads the JSON.
"""
import time
from dataclasses import dataclass
from pathlib import Path

from .. import roles

SPLIT = "tune"
RESULTS = "variance.json"
METHODS = (roles.OBJPROP, roles.BASELINE)      # the central claim: the first minus the second
FACTORS = {
    "all": "the training seed (initialisation and data order together, as the book varies it)",
    "init": "the initialisation alone (the weights the pretrained start does not hold)",
    "order": "the data order, augmentation and proposal sampling alone",
    "threads": "two threads instead of one (the order of float sums)",
    "float32": "float32 instead of bf16 autocast while training",
}
# the keys that switch a method's training autocast off (its test-time precision unchanged)
FLOAT32_OPTIONS = {roles.BASELINE: {"model.train_feat_dtype": None},
                   roles.OBJPROP: {"model.train_feat_dtype": None,
                                   "model.prop_head.train_conv_dtype": None}}
VIDEO_DRAWS = 200


@dataclass(frozen=True)
class Variant:
    """One training setting of both methods: which factor it varies and its seeds."""
    name: str
    factor: str                      # a key of FACTORS, or "reference"
    seed: int = 0
    data_seed: int = 0
    threads: int = 1
    float32: bool = False

    def options(self, role):
        return dict(FLOAT32_OPTIONS[role]) if self.float32 else {}


REFERENCE = Variant("reference", "reference")


def variants(levels=(1, 2), factors=tuple(FACTORS)):
    """The reference and, for each factor, its variants: ``levels`` are the other seeds of
    ``all``, ``init`` and ``order``; ``threads`` and ``float32`` have one each."""
    out = [REFERENCE]
    for factor in factors:
        if factor not in FACTORS:
            from ..errors import ObjPropError
            raise ObjPropError(f"unknown factor {factor!r}; the factors are {list(FACTORS)}")
        if factor == "threads":
            out.append(Variant("threads2", factor, threads=2))
        elif factor == "float32":
            out.append(Variant("float32", factor, float32=True))
        else:
            for k in levels:
                seed, data_seed = dict(all=(k, k), init=(k, 0), order=(0, k))[factor]
                out.append(Variant(f"{factor}{k}", factor, seed, data_seed))
    return out


def train_variants(data_root, variant_list, work_dir="work_dirs/variance", max_iters=None,
                   jobs=None, log=print):
    """Train both methods at every variant (finished runs are reused); returns
    ``{(variant name, role): summary}``."""
    from ..training import TrainSettings, parallel_jobs, train_subprocesses
    from .trials import start_options
    jobs = jobs or parallel_jobs()
    settings = {}
    for v in variant_list:
        for role in METHODS:
            config = roles.TOY_CONFIGS[role]
            options = [*start_options(config), *(f"{k}={x}" for k, x in v.options(role).items())]
            settings[v.name, role] = TrainSettings(
                config, data_root=data_root, seed=v.seed, data_seed=v.data_seed,
                threads=v.threads, resume=True, max_iters=max_iters,
                work_dir=str(Path(work_dir) / v.name / Path(config).stem), cfg_options=options)
    return train_subprocesses(settings, jobs=jobs, log=log)


def score_variants(runs, data_root, out_dir, max_videos=None, jobs=None):
    """mAP on the tune split of every run of :func:`train_variants`: one row per run, with
    its results file (the video resampling reads it back)."""
    from .jobs import run_jobs
    from .scoring import score_method
    calls = [((f"variance_{name}_{role}", summary["config"], summary["checkpoint"],
               data_root, SPLIT, str(out_dir)), dict(max_videos=max_videos, progress=False))
             for (name, role), summary in runs.items()]
    scored = run_jobs(score_method, calls, jobs)
    return [dict(variant=name, role=role, AP=100 * m["stats"]["AP"], results=m["results"],
                 ann_file=m["ann_file"], video_ids=m["video_ids"],
                 s_per_iter=summary.get("s_per_iter"), iters=summary["iters"],
                 inference_seconds=m["inference_seconds"])
            for ((name, role), summary), m in zip(runs.items(), scored)]


def factor_rows(rows, variant_list):
    """Per factor: the paired differences (ObjProp − MaskTrack R-CNN) at the reference and at
    the factor's variants, their sample std (the factor's share of the spread), and each
    method's own std over the same runs."""
    from .stats import mean_std
    ap = {(r["variant"], r["role"]): r["AP"] for r in rows}
    diff = {v.name: ap[v.name, METHODS[0]] - ap[v.name, METHODS[1]] for v in variant_list
            if (v.name, METHODS[0]) in ap and (v.name, METHODS[1]) in ap}
    out = []
    for factor, what in FACTORS.items():
        names = [REFERENCE.name] + [v.name for v in variant_list if v.factor == factor]
        names = [n for n in names if n in diff]
        if len(names) < 2:
            continue
        row = dict(factor=factor, what=what, variants=names, runs=len(names),
                   diffs=[diff[n] for n in names], diff_std=mean_std([diff[n] for n in names])[1])
        for role in METHODS:
            row[f"{role}_std"] = mean_std([ap[n, role] for n in names])[1]
        out.append(row)
    return out


def video_rows(rows, sizes, draws=VIDEO_DRAWS, seed=0):
    """The split's share: the reference pair (models held fixed) scored on splits of each
    size in ``sizes`` drawn by video from the tune split (:func:`stats.bootstrap_ap`): the
    std of the paired difference over the draws."""
    import json
    from .stats import bootstrap_ap
    from .store import subset_gt
    ref = {r["role"]: r for r in rows if r["variant"] == REFERENCE.name}
    if set(ref) != set(METHODS):
        return []
    first = ref[METHODS[0]]
    gt = subset_gt(first["ann_file"], first["video_ids"])
    runs = {role: json.loads(Path(ref[role]["results"]).read_text()) for role in METHODS}
    return [dict(factor="videos", videos=r["videos"], diff_std=r["difference_std"],
                 **{f"{role}_std": r[f"{role}_std"] for role in METHODS})
            for r in bootstrap_ap(gt, runs, sizes, draws=draws, seed=seed)]


def run_variance(data_root, levels=(1, 2), factors=tuple(FACTORS), results_dir="results",
                 work_dir="work_dirs/variance", video_sizes=None, max_iters=None,
                 max_videos=None, jobs=None, log=print):
    """Train, score and decompose; writes ``<results_dir>/variance.json`` and returns it.
    ``video_sizes`` defaults to the tune and valid splits' sizes (ToyVIS's defaults)."""
    from ..data.toyvis import DEFAULT_VIDEOS
    from ..io import write_json_atomic
    t0 = time.time()
    variant_list = variants(levels, factors)
    runs = train_variants(data_root, variant_list, work_dir, max_iters, jobs, log)
    rows = score_variants(runs, data_root, Path(work_dir) / "results", max_videos, jobs)
    sizes = video_sizes or sorted({DEFAULT_VIDEOS["tune"], DEFAULT_VIDEOS["valid"]})
    out = dict(split=SPLIT, data_root=str(data_root), methods=list(METHODS),
               levels=list(levels), max_iters=max_iters,
               variants=[dict(vars(v)) for v in variant_list],
               rows=[{k: v for k, v in r.items() if k not in ("video_ids",)} for r in rows],
               factors=factor_rows(rows, variant_list), videos=video_rows(rows, sizes),
               seconds=round(time.time() - t0, 1))
    write_json_atomic(out, Path(results_dir) / RESULTS, indent=2)
    return out
