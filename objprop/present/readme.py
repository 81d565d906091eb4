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
from .pretrained import pretrain_sentence, trials_sentence, trials_table
from .variance import variance_sentence


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
    pretrain = results_dir / "pretrain.json"
    if pretrain.is_file():
        lines += ["", pretrain_sentence(json.loads(pretrain.read_text()))]
    lines += ["", markdown_table(table2_rows(ev["methods"])[len(paper.TABLE2):],
                                 TABLE2_COLUMNS, extra=TABLE2_EXTRA), "",
              gain_sentence(ev["methods"]), ""]
    variance = results_dir / "variance.json"
    if variance.is_file():
        lines += [variance_sentence(json.loads(variance.read_text())), ""]
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
    trials = results_dir / "recipe_trials.json"
    if trials.is_file():
        t = json.loads(trials.read_text())
        lines += [trials_sentence(t), "", trials_table(t), ""]
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
    if not rows:   # only the paper part was run
        return paper_gpu_sentence(record.get("paper"))
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
            f"counted were {tf32} (reported, not judged: see README, GPUs). "
            + paper_gpu_sentence(record.get("paper")))


def paper_gpu_sentence(part):
    """What ``make gpu-check-paper`` (the ``paper`` part of ``results/gpu_check.json``)
    measured: per method s/iteration, images/s, data wait, peak memory, the paper's schedule
    extrapolated to its GPUs; the DDP comparison; the GPU busy share of the profiles."""
    if not part or not part.get("methods"):
        return ("The paper's setting on a GPU (`make gpu-check-paper`: the R50-FPN configs "
                "through papermill): not measured yet.")
    env = part.get("environment") or {}
    per = []
    for r in part["methods"]:
        mem = r.get("peak_memory_mib")
        x = r["extrapolated"]
        per.append(f"{r['method']} {r['s_per_iter']:.3f} s/iteration at {r['samples_per_gpu']} "
                   f"images a GPU ({r['images_per_s']:.1f} images/s), data wait "
                   f"{100 * r['data_time_share']:.0f} %"
                   + (f", peak memory {mem / 1024:.2f} GiB" if mem is not None else "")
                   + f", {x['epochs']} epochs on {x['gpus']} GPUs {x['hours'][0]:.1f}-"
                   f"{x['hours'][1]:.1f} h")
    x = part["methods"][0]["extrapolated"]
    text = (f"The paper's setting (`make gpu-check-paper`, {part.get('date', 'undated')}, "
            f"{', '.join(env.get('gpus') or [part.get('device', '?')])}; R50-FPN configs "
            f"trained through papermill on ToyVIS at {part['size']['width']}x"
            f"{part['size']['height']}, {part['size']['iters']} iterations timed after "
            f"{part['size']['warmup']}): " + "; ".join(per)
            + f" (the hours: YouTube-VIS 2019's {x['train_videos']} training videos at "
            f"{x['frames'][0] // x['train_videos']}-{x['frames'][1] // x['train_videos']} "
            f"annotated frames each, every GPU at the measured s/iteration).")
    if part.get("ddp"):
        from ..gpu_check_paper import ddp_sentence
        text += " " + ddp_sentence(part["ddp"])
    where = dict(paper="the paper's size", toy="the toy's",
                 paper_workers="the paper's size with more data workers")
    busy = [f"{100 * p['gpu_busy_share']:.0f} % at {where.get(name, name)} (data wait "
            f"{100 * p['data_wait_share']:.0f} %)"
            for name, p in (part.get("profile") or {}).items()
            if p.get("gpu_busy_share") is not None]
    if busy:
        text += " GPU busy (torch.profiler, CUDA time against wall): " + ", ".join(busy) + "."
    if not part.get("complete"):
        text += " (The run stopped before its end: the figures above are what it measured.)"
    return text


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
