"""Independent pieces of a study side by side: one process per core, one thread each, as
the book's trainings run (``objprop.training.threads``: a toy model's small kernels gain
little from a second thread, so two one-thread processes finish two pieces sooner than one
two-thread process finishes them one after the other)."""
import os


def _one_thread_each(threads):
    import torch
    torch.set_num_threads(threads)


def run_jobs(fn, calls, jobs=None):
    """``[fn(*args, **kwargs) for args, kwargs in calls]``, in order, ``jobs`` at a time in
    fresh processes (default: one per core, :func:`objprop.training.parallel_jobs`) with the
    cores split between them; one job, or one call, runs in this process. ``fn`` must be
    importable (a module-level function); the first error is raised here."""
    from ..training.threads import parallel_jobs
    calls = list(calls)
    jobs = min(len(calls), jobs or parallel_jobs())
    if jobs <= 1:
        return [fn(*args, **kwargs) for args, kwargs in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread_each, initargs=(threads,)) as pool:
        futures = [pool.submit(fn, *args, **kwargs) for args, kwargs in calls]
        return [f.result() for f in futures]
