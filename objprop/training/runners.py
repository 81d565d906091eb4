"""mmcv runners whose checkpoints are whole, counted alike, and resumable exactly.

Registered in mmcv's ``RUNNERS``; :func:`objprop.training.loop.train` builds the one matching the
config's ``runner.type`` (``ATOMIC_RUNNERS``), so configs keep mmcv's names.

* A checkpoint is written to a temporary name and renamed (:func:`objprop.io.atomic_path`),
  and ``latest.pth`` re-pointed the same way: a run killed at any moment leaves only whole
  checkpoints.
* ``meta['iter']`` is the number of *completed* iterations for both runner kinds (mmcv's
  ``IterBasedRunner`` saves from ``after_train_iter``, before it counts the iteration, and
  stores one less, which makes a resumed run repeat an iteration).
* A damaged checkpoint met by ``resume`` is one line naming it
  (:func:`objprop.checkpoint.damaged_checkpoint_errors`), not torch's traceback.
* ``meta['rng_state']`` holds the random states (:mod:`objprop.training.resume`); ``resume``
  reads them from the checkpoint it loads and registers a :class:`RestoreRNGHook` that puts
  them back before the first batch.

:class:`RunRecorder` (a registered hook) times the iterations of one invocation for the run
summary.
"""
import os
import time
from pathlib import Path

from mmcv.runner import (HOOKS, RUNNERS, EpochBasedRunner, Hook, IterBasedRunner,
                         save_checkpoint)

from ..checkpoint import check_checkpoint_file, damaged_checkpoint_errors
from ..io import atomic_path
from .resume import RNG_KEY, RestoreRNGHook, rng_state


class _AtomicCheckpoints:
    """``save_checkpoint`` and ``resume`` for both runner kinds (see the module docstring)."""

    loaded_meta = None   # the meta of the checkpoint resumed (loop.py reads its thread count)

    def load_checkpoint(self, filename, *args, **kwargs):
        # a damaged file met by resume: one line naming it, as objprop.checkpoint
        # reads any other checkpoint, and the file is read once
        if Path(str(filename)).is_file():
            check_checkpoint_file(filename)
        with damaged_checkpoint_errors(filename):
            checkpoint = super().load_checkpoint(filename, *args, **kwargs)
        self.loaded_meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
        return checkpoint

    def resume(self, checkpoint, *args, **kwargs):
        super().resume(checkpoint, *args, **kwargs)
        state = (self.loaded_meta or {}).get(RNG_KEY)
        if state is not None:
            self.register_hook(RestoreRNGHook(state), priority="HIGHEST")
        else:
            self.logger.info(f"resume: {checkpoint} holds no random states (an older "
                             f"checkpoint): the resumed run will not repeat the "
                             f"uninterrupted one exactly")

    def save_checkpoint(self, out_dir, filename_tmpl=None, save_optimizer=True, meta=None,
                        create_symlink=True):
        meta = dict(meta or {})
        if self.meta is not None:
            meta.update(self.meta)
        meta[RNG_KEY] = rng_state()
        if isinstance(self, IterBasedRunner):  # from after_train_iter: not counted yet
            done = self.iter + 1
            meta.update(epoch=self.epoch + 1, iter=done)
            name = (filename_tmpl or "iter_{}.pth").format(done)
        else:  # after_train_epoch: self.iter already counts the epoch's iterations
            meta.update(epoch=self.epoch + 1, iter=self.iter)
            name = (filename_tmpl or "epoch_{}.pth").format(self.epoch + 1)
        path = Path(out_dir) / name
        with atomic_path(path) as tmp:
            save_checkpoint(self.model, str(tmp),
                            optimizer=self.optimizer if save_optimizer else None, meta=meta)
        if create_symlink:
            replace_link(path, Path(out_dir) / "latest.pth")


@RUNNERS.register_module()
class AtomicIterBasedRunner(_AtomicCheckpoints, IterBasedRunner):
    """mmcv's ``IterBasedRunner`` with this module's checkpoints."""


@RUNNERS.register_module()
class AtomicEpochBasedRunner(_AtomicCheckpoints, EpochBasedRunner):
    """mmcv's ``EpochBasedRunner`` with this module's checkpoints."""


ATOMIC_RUNNERS = {"IterBasedRunner": "AtomicIterBasedRunner",
                  "EpochBasedRunner": "AtomicEpochBasedRunner"}


def replace_link(target, link):
    """Point ``link`` at ``target`` atomically (a relative symlink; a copy where symlinks
    are not available)."""
    import shutil
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    try:
        os.symlink(target.name, tmp)
    except OSError:
        shutil.copyfile(target, tmp)
    os.replace(tmp, link)


@HOOKS.register_module()
class CoreShareHook(Hook):
    """Every ``interval`` iterations, this CPU training's thread count from the cores other
    processes left it (:class:`objprop.training.threads.CoreShare`), between one and the
    count it started with; each change is a log line. Registered by ``objprop train`` for
    CPU trainings whose thread count was not fixed (``--threads``, or a resumed checkpoint
    that records one: the book's side-by-side runs fix one each). The thread count changes
    the order of float32 reductions, so a run that must repeat another to the bit
    (resuming on a busy machine, tests) fixes it."""

    def __init__(self, interval=5):
        self.interval, self.share, self.n = interval, None, 0

    def before_run(self, runner):
        import torch
        from .threads import CoreShare
        self.share = CoreShare(torch.get_num_threads())
        self.share.update()

    def after_train_iter(self, runner):
        import torch
        self.n += 1        # this invocation's iterations: the first one already measures
        if self.n == 1 or self.n % self.interval == 0:
            before = torch.get_num_threads()
            threads = self.share.update()
            if threads is not None and threads != before:  # why a resume may not repeat
                runner.logger.info(f"CoreShareHook: {threads} thread(s) from iteration "
                                   f"{runner.iter + 2} (was {before})")


@HOOKS.register_module()
class RunRecorder(Hook):
    """Timing and last losses of this invocation (rank 0 writes them to the run summary)."""

    def __init__(self):
        self.t0, self.t1, self.start, self.n, self.last = None, None, None, 0, {}
        self.durations = []

    def before_train_iter(self, runner):
        self.start = time.perf_counter()
        if self.t0 is None:
            self.t0 = self.start

    def after_train_iter(self, runner):
        self.t1 = time.perf_counter()
        self.durations.append(self.t1 - self.start)
        self.n += 1
        self.last = dict(runner.outputs.get("log_vars", {}))
