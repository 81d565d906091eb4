"""The README's measured-results block, rewritten by ``make book`` from ``results/*.json``."""
import json
from pathlib import Path

from .. import paper, roles
from ..errors import ObjPropError
from ..studies.stats import by_role
from ..studies.store import load_json
from ..tables import markdown_table
from .evaluation import (BUDGET_COLUMN, TABLE2_COLUMNS, TABLE2_EXTRA, budget_sentence,
                         fidelity_rows, fidelity_sentence, gain_sentence, table2_rows)
from .oracle import table1_markdown


README_BEGIN = "<!-- results:begin (written by `make book` from results/*.json) -->"
README_END = "<!-- results:end -->"


def readme_results_block(results_dir="results"):
    """The README's measured-results block, from the files the book's run wrote."""
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
                                 TABLE2_COLUMNS, extra=TABLE2_EXTRA), "",
              gain_sentence(ev["methods"]), ""]
    if ev.get("fidelity"):
        lines += ["Fidelity (the paper's text, the authors' code, MaskTrack R-CNN; "
                  "evaluation chapter):", "",
                  markdown_table(fidelity_rows(ev["fidelity"]), TABLE2_COLUMNS,
                                 extra=(BUDGET_COLUMN, ("filled frames", "filled"))), "",
                  fidelity_sentence(ev["fidelity"]), ""]
    budget = results_dir / "budget.json"
    if budget.is_file():
        b = json.loads(budget.read_text())
        lines += [f"How far from converged (`make budget`: each method at "
                  + ", ".join(f"{k * b['base_iters']}" for k in b["multiples"])
                  + f" iterations, seeds {', '.join(map(str, b['seeds']))}, {b['split']} "
                  f"split; evaluation chapter): " + budget_sentence(b), ""]
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
    gpu = results_dir / "gpu_check.json"
    if gpu.is_file():
        lines += [gpu_check_sentence(json.loads(gpu.read_text())), ""]
    oracle = results_dir / "oracle.json"
    if oracle.is_file():
        lines += ["Table 1 (oracle study, percent):", "",
                  table1_markdown(json.loads(oracle.read_text()), paper=True), ""]
    lines.append(README_END)
    return "\n".join(lines)


def gpu_check_sentence(record):
    """What the last ``make gpu-check`` (``results/gpu_check.json``) measured: the GPU, each
    method's s/iteration there and on that machine's CPU, and whether the devices agreed."""
    env = record.get("environment") or {}
    rows = record.get("methods") or []
    speed = "; ".join(f"{r['method']} {r['gpu_s_per_iter']:.3f} s/iteration against "
                      f"{r['cpu_s_per_iter']:.3f} on its CPU "
                      f"({r['cpu_s_per_iter'] / r['gpu_s_per_iter']:.1f}x)" for r in rows)
    agree = ("the same tracks on GPU and CPU in fp32, every paired mask IoU at least "
             f"{min(r['min_iou'] for r in rows):.2f}" if record.get("ok", True)
             else "GPU and CPU DISAGREED")
    tf32 = ", ".join(f"{r['method']} {len(r.get('tf32_problems') or [])}" for r in rows)
    return (f"GPU check (`make gpu-check`, {record.get('date', 'undated')}, "
            f"{', '.join(env.get('gpus') or ['no GPU recorded'])}, torch {env.get('torch')}): "
            f"{speed}; {agree}. With the GPU's default TF32 convolutions the problems "
            f"counted were {tf32} (reported, not judged: see README, GPUs).")


def training_summary(runs):
    """One line per trained method: iterations, batch, its seeds, and each run's s/iteration
    (with its thread count, where recorded)."""
    out = []
    for role, rs in by_role(runs).items():
        spi = [f"{r['s_per_iter']:.2f}" + (f" ({r['threads']} thread"
                                           f"{'s' if r['threads'] > 1 else ''})"
                                           if r.get("threads") else "")
               for r in rs if r.get("s_per_iter") is not None]
        out.append(f"- {roles.name(role)}: {rs[0].get('iters')} iterations, batch {rs[0].get('batch')}, "
                   f"seed{'s' if len(rs) > 1 else ''} "
                   f"{', '.join(str(r.get('seed')) for r in rs)}"
                   + (f"; s/iteration by seed {', '.join(spi)}" if spi else ""))
    return "\n".join(out)


def update_readme(readme, results_dir="results"):
    """Rewrite the block between the README's result markers (atomically)."""
    from ..io import write_text_atomic
    readme = Path(readme)
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ObjPropError("no results markers to rewrite", path=readme)
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    write_text_atomic(head + readme_results_block(results_dir) + tail, readme)
