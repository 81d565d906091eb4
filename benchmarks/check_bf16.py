"""Does bf16 change the book's numbers? Each toy method trained per seed in float32 and with
``model.train_feat_dtype=bfloat16`` (the backbone and FPN under bf16 autocast while
training), the toy schedule, two runs side by side as the book trains; every model scored
on the book's split (ToyVIS valid) as the evaluation chapter scores it. Writes
``results/precision_check.json``: mAP per run, mean ± std per (method, precision), the
paired difference bf16 - float32 per seed, and whether its mean lies within float32's seed
spread (the issue's bar for keeping bf16), with the training s/iteration of each run.

    python benchmarks/check_bf16.py [--data data/toyvis] [--seeds 0 1 2] [--max-iters N]

The float32 runs go to ``work_dirs/fp32/``, the bf16 runs to ``work_dirs/bf16/`` (the
toy configs train with bf16 features since this check held, 2026-11-26).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from objprop.gpu_check import METHODS as CONFIGS  # noqa: E402  (the two toy methods)
PRECISIONS = {"float32": ["model.train_feat_dtype=None"],
              "bfloat16": ["model.train_feat_dtype=bfloat16"]}


def main():
    import os
    os.chdir(ROOT)
    from objprop import training
    from objprop.io import write_json_atomic
    from objprop.studies.scoring import score_method
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-iters", type=int, default=None)
    p.add_argument("--out", default="results/precision_check.json")
    args = p.parse_args()
    t0 = time.time()
    runs = {}
    for precision, options in PRECISIONS.items():
        root = "work_dirs/fp32" if precision == "float32" else "work_dirs/bf16"
        runs.update({(name, precision, seed): training.TrainSettings(
            cfg, data_root=args.data, work_dir=training.run_dir(root, cfg, seed), seed=seed,
            resume=True, max_iters=args.max_iters, cfg_options=options)
            for name, cfg in CONFIGS.items() for seed in args.seeds})
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
    summary = []
    for name in CONFIGS:
        by = {pr: {r["seed"]: r["mAP"] for r in rows if r["method"] == name
                   and r["precision"] == pr} for pr in PRECISIONS}
        diffs = [by["bfloat16"][s] - by["float32"][s] for s in args.seeds]
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
    write_json_atomic(dict(runs=rows, summary=summary, seeds=args.seeds,
                           data=args.data, seconds=round(time.time() - t0)), args.out, indent=2)
    print(f"check_bf16: {time.time() - t0:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
