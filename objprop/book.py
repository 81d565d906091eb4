"""Executing the book: every chapter through papermill, in order, then jupyter-book.

``python -m objprop.book run`` (what ``make book`` calls) executes each MyST chapter of
``book/`` with its papermill parameters into ``book/_executed/<chapter>.ipynb``; the
jupyter-book build renders those executed notebooks with its own execution off, so the
training chapter never re-runs during a build. ``--smoke`` runs every chapter at a tiny budget
(the mode the nbval regression notebooks under ``tests/notebooks/`` are made with:
``python -m objprop.book smoke-notebooks``).
"""
import argparse
import shutil
import sys
import time
from pathlib import Path

from . import roles
from .errors import ObjPropError

CHAPTERS = ["intro", "data", "train", "oracle", "evaluation", "propagation", "qualitative",
            "stability", "claims"]
STREAMED = {"train"}  # chapters whose printed output is echoed live while they run
# reference pages with no code (book/<name>.md): copied beside the executed chapters, never run
STATIC_PAGES = ["departures"]


def glue(values, prefix=""):
    """Hand each of ``values`` to myst-nb's ``glue`` (hidden output), so that the chapter's
    prose names it as ``{glue:text}`key``` (with a format spec, ``{glue:text}`key:.1f```)
    instead of typing a number that the next run or config change would make stale."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # a chapter run by papermill alone (README, GPUs: step 4, or the GPU
        return           # check on a machine without the book's build tools): no page to fill
    for key, value in values.items():
        myst_glue(prefix + key, value, display=False)


def repo_root():
    """The checkout this package lives in (chapters chdir here so paths are repo-relative)."""
    return Path(__file__).resolve().parent.parent


DEFAULT_SEEDS = (0, 1, 2)  # training seeds of the book's run (``make book SEEDS="..."``)
# the authors' preset and its equal-budget control (MaskTrack R-CNN trained on from the same
# checkpoint) train on the first DEFAULT_AUTHORS_SEEDS seeds: all of them
DEFAULT_AUTHORS_SEEDS = len(DEFAULT_SEEDS)
# the paper's ObjProp fine-tuned from the baseline as the authors' preset is (their recipe,
# the paper's design): `make book RECIPE_SEEDS=3` adds it; not in the default book's time
DEFAULT_RECIPE_SEEDS = 0
TOY_CONFIGS = dict(config=roles.TOY_CONFIGS[roles.OBJPROP],
                   baseline_config=roles.TOY_CONFIGS[roles.BASELINE],
                   authors_config=roles.TOY_CONFIGS[roles.AUTHORS],
                   continued_config=roles.TOY_CONFIGS[roles.CONTINUED],
                   from_baseline_config=roles.TOY_CONFIGS[roles.FROM_BASELINE])


def chapter_parameters(smoke=False, data_root="data/toyvis", seed=0, results_dir="results",
                       work_dir="work_dirs", seeds=DEFAULT_SEEDS,
                       authors_seeds=DEFAULT_AUTHORS_SEEDS, recipe_seeds=DEFAULT_RECIPE_SEEDS):
    """Papermill parameters of each chapter: the book's default run, or the smoke run.

    ``seed`` is ToyVIS's data seed; ``seeds`` are the training seeds (every trained method
    runs once per seed; the smoke run uses two, so the mean ± std path is exercised)."""
    if smoke:
        data_root, results_dir, work_dir = ("work_dirs/smoke/toyvis", "work_dirs/smoke/results",
                                            "work_dirs/smoke")
    common = dict(data_root=data_root, results_dir=results_dir)
    toy = dict(TOY_CONFIGS)
    params = {
        "intro": dict(common),
        "data": dict(common, seed=seed),
        "train": dict(common, **toy, gpus=0, procs=1, work_dir=work_dir,
                      seeds=[int(s) for s in seeds], authors_seeds=int(authors_seeds),
                      recipe_seeds=int(recipe_seeds)),
        "oracle": dict(common, config=toy["baseline_config"]),
        "evaluation": dict(common, **toy),
        "propagation": dict(common, config=toy["config"]),
        "qualitative": dict(common),
        "stability": dict(results_dir=results_dir),
        "claims": dict(results_dir=results_dir),
    }
    if smoke:
        params["data"].update(train_videos=3, valid_videos=2, tune_videos=2, frames=6, height=96,
                              width=160)
        # a pretraining of 2 iterations in a cache of the smoke run's own (the machine's
        # cache is neither read nor re-pointed)
        toycoco = dict(toycoco_root="work_dirs/smoke/toycoco", toycoco_train_images=6,
                       toycoco_valid_images=2)
        params["data"].update(toycoco)
        params["train"].update(max_iters=2, seeds=[0, 1], authors_seeds=2, recipe_seeds=1,
                               pretrain_iters=2, pretrained_cache="work_dirs/smoke/pretrained",
                               **toycoco)
        for name in ("oracle", "evaluation", "propagation"):
            params[name].update(max_videos=1)
        params["propagation"].update(deltas=[1, 2], fill_grid={"min_track_score": [0.0],
                                                               "replace_score_thr": [None, 0.5]})
        params["evaluation"].update(bootstrap_draws=5, timing_videos=1)
    return params


def execute_chapter(name, parameters, out_dir, log=print):
    """Run one MyST chapter through papermill; returns the executed notebook's path."""
    import jupytext
    import papermill as pm
    src = repo_root() / "book" / f"{name}.md"
    nb = jupytext.read(src)
    declared = _declared_parameters(nb)
    params = {k: v for k, v in parameters.items() if k in declared}
    out = Path(out_dir) / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{name}.running.ipynb")
    t0 = time.time()
    log(f"[book] {name}: executing with {params}")
    # the training chapter runs for minutes: stream its log (loss, ETA) to the terminal
    pm.execute_notebook(nb, str(tmp), parameters=params, cwd=str(repo_root()),
                        kernel_name="python3", progress_bar=False, log_output=False,
                        stdout_file=sys.stdout if name in STREAMED else None,
                        request_save_on_cell_execute=False)
    _hide_injected_parameters(tmp)
    tmp.replace(out)
    log(f"[book] {name}: done in {time.time() - t0:.0f} s -> {out}")
    return out


def _hide_injected_parameters(path):
    """Collapse papermill's injected-parameters cell in the HTML (jupyter-book's
    ``hide-cell`` tag: a toggle shows it); the downloadable notebook keeps it as it is."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    nbformat.write(nb, str(path))


def _declared_parameters(nb):
    """The names a chapter's ``parameters`` cell declares. papermill inspects only files:
    the converted notebook is written to a temporary folder, never beside the executed
    chapters, where jupyter-book would parse it as a page (and warn on its glue roles)."""
    import tempfile

    import nbformat
    import papermill as pm
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chapter.ipynb"
        nbformat.write(nb, str(path))
        return set(pm.inspect_notebook(str(path)))


def copy_static_pages(out_dir=None):
    """Copy ``STATIC_PAGES`` unchanged into ``book/_executed/``, the folder the HTML book
    renders (``_config.yml`` excludes ``book/*.md``, the chapters' sources)."""
    out_dir = Path(out_dir or repo_root() / "book" / "_executed")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in STATIC_PAGES:
        shutil.copyfile(repo_root() / "book" / f"{name}.md", out_dir / f"{name}.md")


def check_configs(configs):
    """Every config the chapters train or test loads and names only registered types
    (:func:`objprop.registries.check_config_types`): checked before the first chapter, so
    that a misspelt type is one line at once, not a failure in the training chapter."""
    from .config import load_config
    from .registries import check_config_types
    for config in sorted(configs):
        path = Path(config) if Path(config).is_absolute() else repo_root() / config
        check_config_types(load_config(path), config)


def run_book(smoke=False, chapters=None, out_dir=None, **kwargs):
    from tqdm import tqdm
    if out_dir is None:  # the book's own folder (not the nbval notebooks' one)
        copy_static_pages()
    params = chapter_parameters(smoke=smoke, **kwargs)
    names = chapters or CHAPTERS
    check_configs({v for n in names for k, v in params[n].items() if k.endswith("config")})
    out_dir = Path(out_dir or repo_root() / "book" / "_executed")
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    bar = tqdm(names, desc="book", unit="chapter", file=sys.stdout)
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.time()
        execute_chapter(name, params[name], out_dir, log=bar.write)
        timings[name] = round(time.time() - t0, 1)
    bar.close()
    print("[book] chapter times (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    if chapters is None:  # a whole run: the README's timing line reads this
        from .io import write_json_atomic
        results_dir = params["train"]["results_dir"]
        write_json_atomic(dict(chapters=timings, total_s=round(sum(timings.values()), 1),
                               seeds=params["train"]["seeds"]),
                          Path(repo_root()) / results_dir / "book_timings.json", indent=2)
    return timings


def add_book_arguments(p):
    """The subcommands of ``objprop book`` (``python -m objprop.book`` is the same)."""
    sub = p.add_subparsers(dest="book_command", required=True)
    r = sub.add_parser("run", help="execute the chapters (the book's main job)")
    r.add_argument("--data", default="data/toyvis")
    r.add_argument("--seed", type=int, default=0, help="ToyVIS's data seed")
    r.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                   help="training seeds: every trained method runs once per seed")
    r.add_argument("--authors-seeds", type=int, default=DEFAULT_AUTHORS_SEEDS,
                   help="how many of the seeds the authors' preset and its equal-budget "
                        "control train on (0: neither)")
    r.add_argument("--recipe-seeds", type=int, default=DEFAULT_RECIPE_SEEDS,
                   help="how many of the seeds the paper's ObjProp is also fine-tuned on from "
                        "the baseline's checkpoint (the authors' recipe)")
    r.add_argument("--smoke", action="store_true", help="tiny budget (regression tests)")
    r.add_argument("--chapters", nargs="*", choices=CHAPTERS)
    r.add_argument("--out-dir")
    rd = sub.add_parser("readme", help="rewrite the README's results block from results/")
    rd.add_argument("--results", default="results")
    s = sub.add_parser("smoke-notebooks",
                       help="regenerate the nbval notebooks under tests/notebooks")
    s.add_argument("--out-dir", default=str(repo_root() / "tests" / "notebooks"))
    v = _study_parser(sub, "variants", "train the propagation branch's variants on every "
                      "seed and measure each on the tuning split (results/branch_variants.json)",
                      DEFAULT_SEEDS, smoke=("max_iters",))
    v.add_argument("--config", default=TOY_CONFIGS["config"])
    v.add_argument("--split", default="tune")
    b = _study_parser(sub, "budget", "the budget curve: each method trained at 1x, 2x, 4x, "
                      "8x the book's iterations, scored on the tuning split "
                      "(results/budget.json, shown by the evaluation chapter)", [0, 1],
                      smoke=("base_iters", "max_videos"))
    b.add_argument("--multiples", type=int, nargs="+", default=[1, 2, 4, 8])
    b.add_argument("--methods", nargs="+", default=["baseline", "objprop", "authors"],
                   choices=["baseline", "objprop", "authors"])
    b.add_argument("--work-dir", default="work_dirs/budget")
    t = _study_parser(sub, "trials", "fidelity trials: the paper's or MaskTrack R-CNN's "
                      "choice where the toy recipe departs, trained from the pretrained start "
                      "beside the book's run of the method, scored on the tuning split "
                      "(results/recipe_trials.json)", [0, 1])
    t.add_argument("--trials", nargs="+", metavar="NAME",
                   help="only these trials (objprop.studies.trials.TRIALS; default all)")
    t.add_argument("--work-dir", default="work_dirs", help="where the book's runs are")
    t.add_argument("--trials-dir", default="work_dirs/trials")
    va = _study_parser(sub, "variance", "what drives the central comparison's spread: "
                       "ObjProp and MaskTrack R-CNN trained with one source of variation "
                       "varied at a time (initialisation, data order, threads, float32; the "
                       "split's videos by resampling), scored on the tuning split "
                       "(results/variance.json, shown by the claims chapter)")
    va.add_argument("--levels", type=int, nargs="+", default=[1, 2], metavar="SEED",
                    help="the other seeds of the seed factors (the reference is seed 0)")
    va.add_argument("--factors", nargs="+", metavar="NAME",
                    help="only these factors (objprop.studies.variance.FACTORS; default all)")
    va.add_argument("--work-dir", default="work_dirs/variance")
    from .studies.power import DEFAULT_VIDEOS as POWER_VIDEOS
    pw = _study_parser(sub, "power", "seeds or videos: the central pair trained on every seed "
                       "(the book's runs reused) and scored on the tuning split grown to "
                       "--videos, cut into blocks; the spread over seeds at each block size "
                       "(results/power.json, shown by the claims chapter)",
                       [0, 1, 2, 3, 4, 5], smoke=("max_iters",))
    pw.add_argument("--videos", type=int, default=POWER_VIDEOS,
                    help="the grown tuning split's videos (its first are the book's)")
    pw.add_argument("--sizes", type=int, nargs="+",
                    help="block sizes (default: the tuning split's size, doubled up to "
                         "--videos)")
    pw.add_argument("--work-dir", default="work_dirs", help="where the book's runs are")
    pw.add_argument("--split-root", help="where the grown split is written (default: "
                    "<data>_tune<videos>)")
    a = _study_parser(sub, "ablation", "which of the authors' choices carry their preset's "
                      "gain: each left out in turn, on the book's seeds, scored on the "
                      "tuning split (results/ablation.json, shown by the evaluation chapter)",
                      DEFAULT_SEEDS, smoke=("max_videos",))
    a.add_argument("--choices", nargs="+", metavar="NAME",
                   help="only these choices (objprop.studies.ablation.CHOICES; default all)")
    a.add_argument("--force", action="store_true",
                   help="run even where the preset beats its equal-budget control at neither "
                        "test setting")
    a.add_argument("--work-dir", default="work_dirs", help="where the book's runs are")
    a.add_argument("--ablation-dir", default="work_dirs/ablation")
    return p


def _study_parser(sub, name, help, seeds=None, smoke=("max_iters", "max_videos")):
    """A study's subcommand with the flags the studies share: ``--data``, ``--results``,
    ``--seeds`` (with ``seeds`` as its default; none for a study without it) and the hidden
    sizes the smoke tests shrink it with (``smoke``: ``max_iters``, ``max_videos``,
    ``base_iters``)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--data", default="data/toyvis")
    if seeds is not None:
        p.add_argument("--seeds", type=int, nargs="+", default=list(seeds))
    p.add_argument("--results", default="results")
    for size in smoke:
        p.add_argument("--" + size.replace("_", "-"), type=int, help=argparse.SUPPRESS)
    return p


def run_from_args(args):
    """What ``objprop book`` runs once its flags are parsed."""
    if args.book_command == "variants":
        run_variants(args)
    elif args.book_command == "ablation":
        from .studies.ablation import CHOICES, run_ablation
        unknown = set(args.choices or ()) - {c.name for c in CHOICES}
        if unknown:
            raise ObjPropError(f"--choices: unknown {sorted(unknown)}; the choices are "
                               f"{[c.name for c in CHOICES]}")
        out = run_ablation(args.data, args.seeds, args.results, args.work_dir,
                           args.ablation_dir, args.choices, args.force, args.max_videos)
        print(_written("ablation", args.results, "ablation.json", out) + (
              "" if out["beats"] or args.force else
              "; the preset beats its equal-budget control at neither test setting on the "
              "tuning split: nothing to attribute"))
    elif args.book_command == "trials":
        from .studies.trials import run_trials
        out = run_trials(args.data, args.seeds, args.results, args.work_dir, args.trials_dir,
                         args.trials, args.max_iters, args.max_videos)
        print(_written("trials", args.results, "recipe_trials.json", out))
        for t in out["trials"]:
            print(f"[trials] {t['name']}: {t['what']}: " + (
                "no paired seeds" if t["diff"] is None else
                f"{t['AP']:.1f} against {t['control_AP']:.1f} mAP, paired "
                f"{t['diff']:+.1f}" + ("" if t["low"] is None else
                                       f" [{t['low']:+.1f}, {t['high']:+.1f}]: {t['reading']}")))
    elif args.book_command == "variance":
        from .studies.variance import FACTORS, run_variance
        out = run_variance(args.data, args.levels, args.factors or tuple(FACTORS),
                           args.results, args.work_dir, max_iters=args.max_iters,
                           max_videos=args.max_videos)
        print(_written("variance", args.results, "variance.json", out))
        for f in out["factors"] + out["videos"]:
            print(f"[variance] {f['factor']}" + (f" ({f['videos']} videos)" if "videos" in f
                                                 else f" ({f['runs']} runs)")
                  + f": std of the paired difference {f['diff_std']:.2f} mAP")
    elif args.book_command == "power":
        from .studies.power import run_power
        out = run_power(args.data, args.seeds, args.videos, args.sizes, args.results,
                        args.work_dir, args.split_root, args.max_iters)
        print(_written("power", args.results, "power.json", out))
        for r in out["sizes"]:
            print(f"[power] {r['videos']} videos ({r['blocks']} blocks): std over seeds of "
                  f"the paired difference {r['diff_sd']:.2f} mAP")
    elif args.book_command == "budget":
        from .studies.budget import run_budget
        out = run_budget(args.data, args.seeds, args.multiples, args.methods, args.work_dir,
                         args.results, base=args.base_iters, max_videos=args.max_videos)
        p = out["plateau"]
        print(_written("budget", args.results, "budget.json", out) + "; the baseline's curve "
              + (f"flattens at {p['length']}x the book's {out['base_iters']} iterations"
                 if p["length"] else "does not flatten within these lengths"))
    elif args.book_command == "run":
        run_book(smoke=args.smoke, chapters=args.chapters, out_dir=args.out_dir,
                 data_root=args.data, seed=args.seed, seeds=args.seeds,
                 authors_seeds=args.authors_seeds, recipe_seeds=args.recipe_seeds)
    elif args.book_command == "readme":
        from .present.readme import update_readme
        update_readme(repo_root() / "README.md", args.results)
        print("[book] README results block rewritten from " + args.results)
    else:
        write_smoke_notebooks(args.out_dir)


def _written(study, results_dir, name, out):
    """A study's closing line: where its JSON is and how long the study took."""
    return f"[{study}] {Path(results_dir) / name} written in {out['seconds'] / 60:.1f} min"


def main(argv=None):
    """``python -m objprop.book ...`` = ``objprop book ...``; returns an exit status."""
    from .cli import main as objprop
    return objprop(["book", *(sys.argv[1:] if argv is None else argv)])


def run_variants(args):
    """``objprop book variants``: :func:`objprop.studies.variants.branch_variant_study` over
    ``--seeds``, written to ``<results>/branch_variants.json`` for the propagation chapter.
    Long (one training per variant and seed): not part of ``make book``."""
    from .io import write_json_atomic
    from .studies.variants import BRANCH_VARIANTS, branch_variant_study
    from .training import content_fingerprint
    rows = branch_variant_study(args.config, seeds=args.seeds, data_root=args.data,
                                split=args.split, max_iters=args.max_iters)
    write_json_atomic(dict(config=args.config, split=args.split, seeds=args.seeds,
                           max_iters=args.max_iters, variants=BRANCH_VARIANTS,
                           fingerprint=content_fingerprint(args.config, args.data), rows=rows),
                      Path(args.results) / "branch_variants.json", indent=2)
    print(f"[variants] written to {Path(args.results) / 'branch_variants.json'}")


def write_smoke_notebooks(out_dir):
    """Execute every chapter in smoke mode and keep them, numbered, for nbval."""
    out_dir = Path(out_dir)
    run_book(smoke=True, out_dir=out_dir)
    for i, name in enumerate(CHAPTERS, 1):
        (out_dir / f"{name}.ipynb").replace(out_dir / f"{i:02d}_{name}.ipynb")
    for nb_path in out_dir.glob("*.ipynb"):
        shrink_images(nb_path)


FULL_SIZE_TAG = "full-size-figure"   # a cell whose figure the HTML test measures as shown


def shrink_images(nb_path, max_width=360):
    """Re-encode a notebook's PNG outputs at most ``max_width`` wide: the committed nbval
    notebooks stay small (nbval does not compare images; the HTML test only needs them).
    A cell tagged :data:`FULL_SIZE_TAG` keeps its figure's size (the test of the forest
    plot's readability lays it out as the book does), re-encoded all the same."""
    import base64
    import io

    import nbformat
    from PIL import Image
    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        full_size = FULL_SIZE_TAG in cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            im = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
            if im.width > max_width and not full_size:
                im = im.resize((max_width, round(im.height * max_width / im.width)))
            buf = io.BytesIO()
            im.convert("P", palette=Image.ADAPTIVE).save(buf, format="PNG", optimize=True)
            data["image/png"] = base64.b64encode(buf.getvalue()).decode()
    nbformat.write(nb, str(nb_path))


if __name__ == "__main__":
    sys.exit(main())
