"""Does bf16 change the book's numbers? Each toy method trained per seed in float32 and in
bf16 (``inference.train_precision_options``: the backbone and FPN under bf16 autocast while
training, ``model.train_feat_dtype``, and ObjProp's propagation head's mask convolutions,
``model.prop_head.train_conv_dtype``), the toy schedule, two runs side by side as the book
trains; every model scored on the book's split (ToyVIS valid) as the evaluation chapter
scores it. Writes
``results/precision_check.json``: mAP per run, mean ± std per (method, precision), the
paired difference bf16 - float32 per seed, and whether its mean lies within float32's seed
spread (the issue's bar for keeping bf16), with the training s/iteration of each run.

    python benchmarks/check_bf16.py [--data data/toyvis] [--seeds 0 1 2] [--max-iters N]
        [--methods baseline objprop]

The float32 runs go to ``work_dirs/fp32/``, the bf16 runs to ``work_dirs/bf16/`` (the
toy configs train with bf16 features since this check held, 2026-11-26, and with the
propagation head's convolutions in bf16 since it held again, 2026-11-27). Runs found there
complete are not trained again: clear a folder after changing what it trains.

With ``--at-test`` the same question for inference, on the weights the book trained (its
train chapter's runs of MaskTrack R-CNN, ObjProp and the authors' preset, every seed): each
model run over the **tuning** split (a setting is chosen there, never on valid) in float32
and with bf16 autocast at test time (``model.test_feat_dtype``: the backbone and FPN;
``model.prop_head.test_conv_dtype``: the propagation head's mask convolutions), the same
paired difference against float32's seed spread, and the inference seconds of each pass
(side by side, two at a time: a rough speed; ``benchmarks/bench_models.py`` measures it).
Writes ``results/precision_check_test.json``.

    python benchmarks/check_bf16.py --at-test [--seeds 0 1 2]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from objprop.gpu_check import METHODS as CONFIGS  # noqa: E402  (the two toy methods)
PRECISIONS = ("float32", "bfloat16")


def main():
    import os
    os.chdir(ROOT)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-iters", type=int, default=None)
    p.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS),
                   help="training check: the methods to train (default: both)")
    p.add_argument("--at-test", action="store_true",
                   help="inference precision on the book's trained weights (tuning split)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.at_test:
        check_at_test(args)
    else:
        check_training(args)


def check_training(args):
    from objprop import training
    from objprop.config import load_config
    from objprop.inference import train_precision_options
    from objprop.io import write_json_atomic
    from objprop.studies.scoring import score_method
    args.out = args.out or "results/precision_check.json"
    t0 = time.time()
    methods = {name: CONFIGS[name] for name in args.methods}
    runs = {}
    for precision in PRECISIONS:
        root = "work_dirs/fp32" if precision == "float32" else "work_dirs/bf16"
        runs.update({(name, precision, seed): training.TrainSettings(
            cfg, data_root=args.data, work_dir=training.run_dir(root, cfg, seed), seed=seed,
            resume=True, max_iters=args.max_iters,
            cfg_options=train_precision_options(load_config(cfg), precision))
            for name, cfg in methods.items() for seed in args.seeds})
    done = training.train_subprocesses(runs, jobs=training.parallel_jobs(),
                                       log=lambda line: None if "Iter [" in line else print(line))
    rows = []
    for (name, precision, seed), summary in done.items():
        scored = score_method(f"{name}_{precision}", CONFIGS[name], summary["checkpoint"],
                              args.data, out_dir="results/precision_check", seed=seed,
                              progress=False)
        rows.append(dict(method=name, precision=precision, seed=seed,
                         mAP=100 * scored["stats"]["AP"], s_per_iter=summary["s_per_iter"],
                         iters=summary["iters"]))
        print(f"{name:<16} {precision:<9} seed {seed}: mAP {rows[-1]['mAP']:.1f} "
              f"({summary['s_per_iter']} s/iter)", flush=True)
    write_json_atomic(dict(runs=rows, summary=summarize(rows, methods, args.seeds),
                           seeds=args.seeds, data=args.data, seconds=round(time.time() - t0)),
                      args.out, indent=2)
    print(f"check_bf16: {time.time() - t0:.0f} s; wrote {args.out}")


def check_at_test(args):
    from objprop import roles
    from objprop.config import load_config
    from objprop.inference import TEST_PRECISIONS, test_precision_options
    from objprop.io import write_json_atomic
    from objprop.studies.jobs import run_jobs
    from objprop.studies.scoring import score_method
    from objprop.studies.store import find_checkpoint
    args.out = args.out or "results/precision_check_test.json"
    t0 = time.time()
    methods = {r: roles.TOY_CONFIGS[r] for r in (roles.BASELINE, roles.OBJPROP, roles.AUTHORS)}
    keys, calls = [], []
    for name, cfg in methods.items():
        options = {pr: test_precision_options(load_config(cfg), pr) for pr in TEST_PRECISIONS}
        for seed in args.seeds:
            ckpt = find_checkpoint(cfg, seed=seed)
            for precision in TEST_PRECISIONS:
                keys.append((name, precision, seed))
                calls.append(((f"{name}_{precision}_at_test", cfg, ckpt, args.data, "tune",
                               "results/precision_check"),
                              dict(progress=False, seed=seed,
                                   cfg_options=options[precision])))
    scored = run_jobs(score_method, calls)
    rows = [dict(method=name, precision=precision, seed=seed, mAP=100 * m["stats"]["AP"],
                 inference_seconds=m["inference_seconds"])
            for (name, precision, seed), m in zip(keys, scored)]
    for r in rows:
        print(f"{r['method']:<10} {r['precision']:<9} seed {r['seed']}: mAP {r['mAP']:.2f} "
              f"(inference {r['inference_seconds']:.0f} s)")
    for name in methods:
        sec = {pr: sum(r["inference_seconds"] for r in rows if r["method"] == name
                       and r["precision"] == pr) for pr in TEST_PRECISIONS}
        print(f"{name}: inference float32 / bfloat16 = {sec['float32'] / sec['bfloat16']:.2f}x "
              f"(passes two at a time)")
    write_json_atomic(dict(runs=rows, summary=summarize(rows, methods, args.seeds),
                           seeds=args.seeds, data=args.data, split="tune",
                           seconds=round(time.time() - t0)), args.out, indent=2)
    print(f"check_bf16 --at-test: {time.time() - t0:.0f} s; wrote {args.out}")


def summarize(rows, methods, seeds):
    """Per method: float32's mean and seed spread, bf16's, the paired differences bf16 -
    float32 and whether their mean lies within float32's spread."""
    summary = []
    for name in methods:
        by = {pr: {r["seed"]: r["mAP"] for r in rows if r["method"] == name
                   and r["precision"] == pr} for pr in PRECISIONS}
        diffs = [by["bfloat16"][s] - by["float32"][s] for s in seeds]
        fp32 = list(by["float32"].values())
        spread = statistics.stdev(fp32) if len(fp32) > 1 else float("nan")
        summary.append(dict(
            method=name, float32_mean=statistics.mean(fp32), float32_std=spread,
            bfloat16_mean=statistics.mean(by["bfloat16"].values()),
            bfloat16_std=statistics.stdev(by["bfloat16"].values()) if len(fp32) > 1 else None,
            paired_diffs=diffs, paired_mean=statistics.mean(diffs),
            within_seed_spread=abs(statistics.mean(diffs)) <= spread))
        s = summary[-1]
        print(f"{name}: float32 {s['float32_mean']:.1f} ± {spread:.1f}, bf16 "
              f"{s['bfloat16_mean']:.1f}; bf16 - float32 per seed "
              f"{', '.join(f'{d:+.1f}' for d in diffs)} (mean {s['paired_mean']:+.1f}): "
              f"{'within' if s['within_seed_spread'] else 'OUTSIDE'} float32's seed spread")
    return summary


if __name__ == "__main__":
    main()
