"""Where the wall time of a training iteration goes, on the GPU as on the CPU:
``objprop train --profile-iters K`` records the last K iterations of a run with
``torch.profiler`` (:class:`ProfileHook`) and rank 0 writes ``<work_dir>/profile.json``.

It holds the wall time of those iterations, the time they waited for the data loader, and,
on a GPU, the time the GPU was busy: the union of the intervals of its kernels, copies and
memsets (``busy_time``), so that two streams at work at once count once. Busy over wall is
the GPU busy share; what is left is time the GPU waited for the host (data, Python, launches,
a synchronisation). The operators that took the most device time (on a CPU run, CPU time)
are listed with it. The profiler's own bookkeeping slows the host a little, so the share is a
lower bound. The GPU check reads the file (``objprop.gpu_check_paper``)."""
import json
import time
from pathlib import Path

from mmcv.runner import HOOKS, Hook

PROFILE_NAME = "profile.json"
# after the optimizer step (OptimizerHook: ABOVE_NORMAL, 40) and before the checkpoint is
# written (CheckpointHook: NORMAL, 50), so that a window ends with the last update and never
# holds the saving of a checkpoint
PRIORITY = 45


def busy_time(intervals):
    """The length of the union of ``(start, end)`` intervals."""
    total, lo, hi = 0.0, None, None
    for s, e in sorted(intervals):
        if hi is None or s > hi:
            if hi is not None:
                total += hi - lo
            lo, hi = s, e
        else:
            hi = max(hi, e)
    return total + (hi - lo if hi is not None else 0.0)


def _device_intervals(prof):
    """``(start, end)`` in microseconds of every device-side event (kernels, copies)."""
    from torch.autograd import DeviceType
    return [(e.time_range.start, e.time_range.end) for e in prof.events()
            if e.device_type == DeviceType.CUDA]


def _top_ops(prof, on_gpu, top):
    """The ``top`` operators by self time on the device (GPU) or the CPU: name, calls, ms."""
    def device_us(a):   # torch >= 2.4 names it device time; older versions cuda time
        return getattr(a, "self_device_time_total", getattr(a, "self_cuda_time_total", 0.0))
    rows = [dict(name=a.key, calls=a.count, self_device_ms=round(device_us(a) / 1e3, 3),
                 self_cpu_ms=round(a.self_cpu_time_total / 1e3, 3))
            for a in prof.key_averages()]
    rows.sort(key=lambda r: -(r["self_device_ms"] if on_gpu else r["self_cpu_ms"]))
    return rows[:top]


@HOOKS.register_module()
class ProfileHook(Hook):
    """torch.profiler over the last ``iters`` iterations of an iteration-based run (at least
    one iteration before them is left unprofiled: the first one pays for cuDNN's and the
    allocator's warm-up). The window opens after an iteration's update and closes after the
    last one's, so it holds ``iters`` data fetches and steps."""

    def __init__(self, iters, top=15):
        self.iters, self.top = int(iters), top
        self.prof, self.t0, self.last, self.data_wait, self.n = None, None, None, 0.0, 0

    def _on_gpu(self, runner):
        import torch
        return torch.cuda.is_available() and next(runner.model.parameters()).is_cuda

    def _sync(self, runner):
        if self._on_gpu(runner):
            import torch
            torch.cuda.synchronize()

    def after_train_iter(self, runner):
        start = max(0, runner.max_iters - self.iters - 1)
        if self.prof is None and runner.iter == start and runner.iter < runner.max_iters - 1:
            from torch.profiler import ProfilerActivity, profile
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                             if self._on_gpu(runner) else [])
            self._sync(runner)
            self.prof = profile(activities=acts)
            self.prof.__enter__()
            self.t0 = self.last = time.perf_counter()
            return
        if self.prof is None or self.t0 is None:
            return
        self.n += 1
        if runner.iter == runner.max_iters - 1:
            self._sync(runner)
            wall = time.perf_counter() - self.t0
            self.prof.__exit__(None, None, None)
            self._write(runner, wall)
            self.t0 = None
        else:
            self.last = time.perf_counter()

    def before_train_iter(self, runner):
        if self.t0 is not None and self.last is not None:   # the batch was just fetched
            self.data_wait += time.perf_counter() - self.last

    def _write(self, runner, wall):
        from mmcv.runner import get_dist_info
        from ..io import write_json_atomic
        on_gpu = self._on_gpu(runner)
        record = dict(iters=self.n, wall_s=round(wall, 4), s_per_iter=round(wall / self.n, 4),
                      data_wait_s=round(self.data_wait, 4),
                      data_wait_share=round(self.data_wait / wall, 4),
                      device="cuda" if on_gpu else "cpu", gpu_busy_s=None,
                      gpu_busy_share=None, top_ops=[])
        try:
            if on_gpu:
                busy = busy_time(_device_intervals(self.prof)) / 1e6
                record.update(gpu_busy_s=round(busy, 4), gpu_busy_share=round(busy / wall, 4))
            record["top_ops"] = _top_ops(self.prof, on_gpu, self.top)
        except Exception as exc:    # a profiler that cannot report must not fail the run
            record["error"] = f"{type(exc).__name__}: {exc}"[:200]
        runner.logger.info(f"profile of the last {self.n} iterations: {json.dumps(record)[:400]}")
        if get_dist_info()[0] == 0:
            write_json_atomic(record, Path(runner.work_dir) / PROFILE_NAME, indent=1)
