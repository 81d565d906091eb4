"""Starting runs: ``objprop train`` in this process or under torchrun (one machine or
several), and the book's side, a run in a subprocess that is skipped when an identical
finished run is there already."""
import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

from ..errors import ObjPropError
from .settings import SUMMARY_NAME, TrainSettings
from .threads import training_env


def run_from_args(args):
    settings = TrainSettings.from_args(args)
    if settings.launcher == "pytorch":  # a torchrun worker
        from .loop import train
        train(settings)
        return
    settings.check()
    if settings.world_size > 1:
        launch_distributed(settings)
    else:
        from .loop import train
        train(settings)


def torchrun_command(settings):
    """torchrun running this ``objprop train`` once per GPU (or CPU slot) of this node.

    One node: ``--standalone``. Several: torchrun's static rendezvous at ``master_addr:
    master_port``, this node being ``node_rank`` of ``nnodes``; every node runs the same
    command with its own ``--node-rank``."""
    if settings.nnodes == 1:
        rdzv = ["--standalone"]
    else:
        rdzv = [f"--nnodes={settings.nnodes}", f"--node-rank={settings.node_rank}",
                f"--master-addr={settings.master_addr}",
                f"--master-port={settings.master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", *rdzv,
            f"--nproc-per-node={settings.procs_per_node}", "-m", "objprop.cli", "train",
            *settings.replace(launcher="pytorch").argv()]


def launch_distributed(settings):
    """Re-run this ``objprop train`` command under torchrun (:func:`torchrun_command`)."""
    env = training_env(settings.threads, gpus=settings.gpus)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                               // settings.procs_per_node)))
    env.setdefault("PYTHONUNBUFFERED", "1")
    backend = "NCCL" if settings.gpus else "gloo"
    nodes = (f", node {settings.node_rank} of {settings.nnodes} (rendezvous at "
             f"{settings.master_addr}:{settings.master_port})" if settings.nnodes > 1 else "")
    print(f"[train] launching {settings.procs_per_node} processes ({backend}) with torchrun"
          f"{nodes}", flush=True)
    rc = subprocess.call(torchrun_command(settings), env=env)
    if rc != 0:
        raise ObjPropError(f"{settings.world_size} training processes failed (torchrun exit "
                           f"{rc}); the first worker error is printed above",
                           path=settings.config)


# ----------------------------------------------------------------------------- the book's side

def finished_run(work_dir, request):
    """The summary of a complete run in ``work_dir`` made with the same request, else None."""
    path = Path(work_dir) / SUMMARY_NAME
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        return None
    ok = (summary.get("complete") and summary.get("request") == request
          and summary.get("checkpoint") and Path(summary["checkpoint"]).is_file())
    return summary if ok else None


def train_subprocess(settings, log=print):
    """Run ``objprop train`` with these :class:`TrainSettings` in a subprocess, streaming
    its output through ``log``; returns the run summary (``train_summary.json``) with
    ``skipped``.

    With ``settings.resume`` and a complete run of the same request already in the work
    folder nothing is trained (``skipped=True``): re-running the book is cheap.
    """
    settings = settings.replace(work_dir=settings.resolved_work_dir())
    name = Path(settings.config).stem
    if settings.resume:
        done = finished_run(settings.work_dir, settings.request())
        if done:
            log(f"[train] {name}: a finished run ({done['iters']} iterations, "
                f"{done['checkpoint']}) is already in {settings.work_dir}; not re-training "
                f"(resume=True)")
            return dict(done, skipped=True)
    cmd = [sys.executable, "-m", "objprop.cli", "train", *settings.argv()]
    log(f"[train] {name}: {' '.join(cmd[2:])}")
    env = dict(training_env(settings.threads, gpus=settings.gpus), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, env=env)
    tail, in_hooks = deque(maxlen=30), False
    for line in proc.stdout:
        line = line.rstrip()
        tail.append(line)
        # mmcv's table of hooks is long and the same for every run: leave it in the log file
        if "Hooks will be executed in the following order" in line:
            in_hooks = True
        elif in_hooks and "workflow:" in line:
            in_hooks = False
        if line and not in_hooks:
            log(line)
    rc = proc.wait()
    if rc != 0:
        last = next((t for t in reversed(tail) if t.strip()), "")
        raise ObjPropError(f"training failed (exit {rc}): {last}", path=settings.config)
    summary = json.loads((Path(settings.work_dir) / SUMMARY_NAME).read_text())
    return dict(summary, skipped=False)


def train_subprocesses(runs, jobs=1, log=print):
    """Run several trainings (``{key: TrainSettings}``), ``jobs`` side by side, each through
    :func:`train_subprocess`; returns ``{key: summary}`` in the order given.

    Side by side, each run gets ``cores // jobs`` threads unless its settings name a count,
    and its log lines are prefixed with its key (``[ObjProp seed 1] Iter [20/400] ...``).
    A failed run does not stop the others; the first failure is raised once all have
    ended."""
    from concurrent.futures import ThreadPoolExecutor

    from ..config import load_config
    from ..registries import check_config_types
    from .settings import parse_cfg_options
    for s in runs.values():  # every run's types, before the first subprocess starts
        check_config_types(load_config(s.config, cfg_options=parse_cfg_options(
            s.cfg_options) or None), s.config)
    jobs = max(1, min(int(jobs), len(runs)))
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def one(item):
        key, settings = item
        if jobs == 1:
            return train_subprocess(settings, log=log)
        label = " ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        settings = settings.replace(threads=settings.threads or threads)
        return train_subprocess(settings, log=lambda line: log(f"[{label}] {line}"))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [(key, pool.submit(one, (key, s))) for key, s in runs.items()]
    out, errors = {}, []
    for key, future in futures:
        try:
            out[key] = future.result()
        except ObjPropError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return out
