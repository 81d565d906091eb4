"""Training: mmcv's runner driving mmdet 2.x's training loop, on the CPU or on N GPUs.

``objprop train --config C [--data DIR] [--gpus N] [--procs P] [--work-dir W] [--resume]
[--max-iters N | --epochs E] [--samples-per-gpu S] [--seed S] [--threads T] [--cfg-options k=v ...]
[--nnodes N --node-rank R --master-addr A --master-port P]``

The rooms: :mod:`~objprop.training.settings` (the one list of a run's settings, the command
line built from it, the config a run trains, what a finished run is keyed by),
:mod:`~objprop.training.launch` (this process, torchrun, the book's subprocess),
:mod:`~objprop.training.schedule` (lr scaling, short runs), :mod:`~objprop.training.loop`
(the loop itself), :mod:`~objprop.training.runners` and :mod:`~objprop.training.resume`
(registered runners with whole, exactly resumable checkpoints), :mod:`~objprop.training.ddp`
(the registered DDP wrapper) and :mod:`~objprop.training.logs` (records, JSON logs, curves).

The loop is mmdet's ``train_detector`` assembled from the same parts (``build_dataloader``,
``build_optimizer``, ``build_runner``, the runner's training hooks), with four changes:

* **Processes.** One process trains in place (CPU, or ``--gpus 1``). ``--gpus N`` (N > 1) or
  ``--gpus 0 --procs P`` (P > 1) re-launch this command under ``torchrun`` with
  ``--launcher pytorch``: NCCL on GPUs, gloo on the CPU. ``--nnodes N`` spreads a run over
  N machines through torchrun's static rendezvous (no ``--standalone``): the same command on
  each, with ``--node-rank 0 .. N-1`` and the rank-0 node's ``--master-addr/--master-port``;
  ``--gpus``/``--procs`` count per node. mmdet's ``build_ddp`` refuses the CPU, so the
  detector is wrapped in torch's ``DistributedDataParallel`` behind a ``train_step`` adaptor
  (:class:`~objprop.training.ddp.DDPTrainer`, a registered mmcv module wrapper, so
  checkpoints keep the detector's own keys). An iteration-based run's sampler is the
  project's own (:mod:`objprop.training.resume`: mmdet's infinite samplers agree on a seed
  with a CUDA broadcast, which gloo cannot do); an epoch-based run keeps mmdet's
  ``DistributedGroupSampler``, which takes the seed as given (``group_sampler.py``, 2.28.2:
  no broadcast), the same on every rank.
* **Learning rate.** Linear scaling: the effective batch is ``samples_per_gpu`` x world size
  (all processes of all nodes);
  when it differs from the config's ``base_batch_size`` the lr is multiplied by
  ``batch / base_batch_size`` and a line says so (``lr 0.005 → 0.00125 for batch 6 (linear
  scaling from batch 24)``). The scaling applies to the lr in force after ``--cfg-options``.
* **Short runs.** ``--max-iters N`` on an ``IterBasedRunner`` config compresses its schedule:
  max_iters = N, and the lr steps, warm-up length and checkpoint interval are scaled by
  N / max_iters (clipped to [1, N]); the log interval becomes at most N // 5 (at least 1), so
  a short run still logs a curve. On an ``EpochBasedRunner`` config (the paper's), ``--max-iters
  N`` instead *stops the paper schedule after N iterations*: the runner becomes an
  ``IterBasedRunner`` of N iterations whose lr steps are the epoch steps x iterations per
  epoch (warm-up unchanged, it is counted in iterations already) and whose checkpoint interval
  is the epoch interval in iterations, capped at N. ``--epochs E`` sets the number of epochs
  (epoch configs: steps scaled by E / max_epochs; iteration configs: N = E x iterations per
  epoch, then compressed as above). Keys given explicitly in ``--cfg-options``
  (``lr_config.step``, ``lr_config.warmup_iters``, ``checkpoint_config.interval``,
  ``log_config.interval``) are never rescaled.
* **Checkpoints** are whole and count completed iterations: the registered runners of
  :mod:`objprop.training.runners` (the config's runner kind, with its own
  ``save_checkpoint``). ``--resume`` continues from the newest checkpoint in the work folder (weights, optimizer
  state, iteration count, hence the lr schedule), so a run killed and resumed ends at the
  same iteration as an uninterrupted one, and on the same machine with the same losses:
  checkpoints also hold the random states, and an iteration-based run's sampler reads on
  after the batches already used (:mod:`objprop.training.resume`). The thread count must
  match too (it orders float32 sums). ``--threads T`` fixes it for the whole run, records it
  in the checkpoints (``meta['threads']``), and ``--resume`` restores it (a different or
  missing ``--threads`` gives way to the recorded count, with a log line): exact on a busy
  machine. Without ``--threads`` a CPU run's count follows the cores other processes leave
  it (:class:`~objprop.training.runners.CoreShareHook`, a log line at each change), so its
  resume repeats the losses only where no other process kept a core busy in either run.

Logs: ``<work_dir>/<timestamp>.log`` (text), ``<timestamp>.log.json`` (one JSON object a
logging interval; :func:`read_json_log`, :func:`plot_losses`), TensorBoard under
``<work_dir>/tf_logs`` when ``tensorboard`` imports (else skipped with a note), and mmcv's
progress line (``Iter [20/600] lr ... eta ... loss ...``) on stderr. When a run ends, rank 0
writes ``<work_dir>/train_summary.json`` (iterations, seconds, s/iter, final losses,
checkpoint): :func:`train_subprocess`, the book's entry point, returns it.
"""
from .batch import loss_terms_table, one_batch_losses
from .launch import finished_run, launch_distributed, run_from_args, torchrun_command, \
    train_subprocess, train_subprocesses
from .threads import parallel_jobs
from .logs import effective_config, plot_losses, read_json_log, run_record, runs_table
from .loop import latest_checkpoint, train
from .schedule import adjust_schedule, linear_lr_scaling, schedule_summary
from .settings import SUMMARY_NAME, TrainSettings, content_fingerprint, data_version, \
    parse_cfg_options, prepare_config, run_dir

__all__ = ["SUMMARY_NAME", "TrainSettings", "adjust_schedule", "content_fingerprint",
           "data_version", "effective_config", "finished_run", "latest_checkpoint", "launch_distributed",
           "linear_lr_scaling", "parse_cfg_options", "plot_losses", "prepare_config",
           "read_json_log", "run_dir", "run_from_args", "run_record", "runs_table",
           "schedule_summary", "torchrun_command", "train", "train_subprocess",
           "train_subprocesses", "parallel_jobs", "one_batch_losses", "loss_terms_table"]


def add_train_arguments(parser):
    """``objprop train``'s flags: one per :class:`TrainSettings` field."""
    TrainSettings.add_arguments(parser)
