"""CPU threads of a training process, and why the cores can be shared.

torch's CPU kernels run on GNU OpenMP (libgomp, ``torch.__config__.parallel_info()``). After
each parallel region libgomp's idle threads *spin* for ``GOMP_SPINCOUNT`` iterations (300000
when ``OMP_WAIT_POLICY`` is unset) before they sleep. A toy iteration has thousands of
small parallel regions, so a training that shares 2 cores with a second one (another
training, ``make test``) keeps both cores busy spinning while the other process's threads
wait to be scheduled: measured on 2 cores (2026-11-26), one toy ObjProp iteration took 4 to 7
times as long beside a second training as alone (`benchmarks/bench_train.py` prints the
ratio). ``OMP_WAIT_POLICY=PASSIVE`` (no spinning) avoids the collapse but cost 10-20 % alone
there; a short spin (:data:`SPIN_COUNT`) kept the speed alone and came within the fair share
(about 2x) beside a second training.

libgomp reads these variables once, when torch is first imported: :func:`configure_process`
sets them in this process before that (first thing in every ``objprop`` command: parsing
``--cfg-options`` already imports torch through mmcv), :func:`training_env` in the
environment of the subprocesses the book and torchrun start. A value already in the
environment wins (``GOMP_SPINCOUNT=300000`` restores libgomp's default, as the benchmark's
"today" setting does).
"""
import os
import sys

SPIN_COUNT = 1000  # libgomp's default is 300000; 0 is OMP_WAIT_POLICY=PASSIVE
# glibc hands blocks above its mmap threshold back to the kernel when they are freed, so a
# training faults its large tensors' pages in again every iteration (one `make book` counted
# 28 million minor page faults); these keep freed memory in the process's heap instead.
# glibc reads them at start-up: they reach training subprocesses only (training_env).
# Measured with benchmarks/bench_train.py-style runs on 2 cores (2026-11-26): 2 to 6 % less
# time per toy iteration, no numerical change.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
              "MALLOC_TOP_PAD_": str(256 << 20)}


def training_env(threads=None, env=None, gpus=0):
    """The environment of a training subprocess: the short OpenMP spin, glibc's malloc
    keeping freed memory (:data:`MALLOC_ENV`), and ``OMP_NUM_THREADS=threads`` when given
    (else torch's default: every core). A value already in ``env`` wins. With ``gpus=0`` no
    GPU is visible to it."""
    env = dict(os.environ if env is None else env)
    env.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))
    for key, value in MALLOC_ENV.items():
        env.setdefault(key, value)
    if threads:
        env["OMP_NUM_THREADS"] = str(int(threads))
    if not gpus:
        # a CPU run never touches a GPU: where torch sees one, DataParallel (None: every GPU)
        # moves the model there and scatters batches to it (seen on an H200 machine)
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def configure_process():
    """Set the short spin in this process (a value already there wins). Returns False when
    torch was imported already: libgomp has read its variables, and this changes nothing.
    A run's thread count is set by :func:`objprop.training.train` (``torch.set_num_threads``)."""
    fresh = "torch" not in sys.modules
    if fresh:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))
    return fresh


def parallel_jobs(gpus=0, cpus=None):
    """How many CPU trainings the book runs side by side: one per core, one thread each (two
    1-thread trainings side by side do more iterations per second than one 2-thread
    training: a toy iteration's small kernels use a second thread for ~1.35x, not 2x;
    ``benchmarks/bench_train.py``). GPU trainings run one at a time."""
    if gpus:
        return 1
    return max(1, cpus or os.cpu_count() or 1)


# a checkpoint's meta key: the run's fixed thread count, None where the CoreShareHook set it
THREADS_KEY = "threads"


def fixed_threads(requested, recorded=None):
    """A run's fixed thread count (None: it follows the machine, :class:`CoreShare`) and a
    note for its log. ``requested``: ``--threads``; ``recorded``: what the checkpoint being
    resumed holds under :data:`THREADS_KEY`. The thread count orders float32 sums, so a
    resumed run keeps the count its checkpoint records, whatever ``--threads`` says now
    (the book resumes its side-by-side runs with the count of today's job layout)."""
    if not recorded or recorded == requested:
        return requested, None
    said = f", not --threads {requested}," if requested else ","
    return recorded, (f"resume: {recorded} thread(s), as the checkpoint records{said} so "
                      f"the resumed run repeats the uninterrupted one's losses")


def _machine_busy_seconds():
    """CPU seconds all processes of the machine spent busy since boot (/proc/stat's first
    line, less idle and iowait); None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)) / hz


def threads_beside(others, cores, most):
    """The thread count a training takes when the rest of the machine keeps ``others``
    cores busy: the cores left free, at least one, at most ``most``."""
    return max(1, min(most, int(round(cores - others))))


class CoreShare:
    """Give way when other processes need the cores, take them back when they are done.

    A CPU training with as many threads as cores, beside a second CPU-heavy process (another
    training, ``make test``), runs more threads than there are cores: a parallel region
    waits for its descheduled threads, and a toy ObjProp iteration took about 3x its time
    alone there, with the short spin already set (2026-11-27), against the fair share's 2x.
    :meth:`update`, called every few iterations, measures how many cores the *other*
    processes kept busy since the last call (the machine's busy CPU time from /proc/stat
    less this process's own) and sets ``torch.set_num_threads`` to the cores they left
    (:func:`threads_beside`), never above the count the training started with.
    """

    def __init__(self, most, cores=None):
        self.most, self.cores = most, cores or os.cpu_count() or 1
        self.last = None

    def _sample(self):
        import time
        busy = _machine_busy_seconds()
        return None if busy is None else (time.monotonic(), busy, time.process_time())

    def update(self):
        """Returns the thread count set (None: nothing measured yet, or no /proc/stat)."""
        import torch
        now = self._sample()
        last, self.last = self.last, now
        if now is None or last is None or now[0] - last[0] <= 0:
            return None
        wall = now[0] - last[0]
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / wall
        threads = threads_beside(others, self.cores, self.most)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads
