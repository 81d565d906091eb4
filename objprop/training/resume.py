"""Exact resume: a run killed and resumed trains on the same batches with the same random
draws as the uninterrupted run.

mmcv's ``runner.resume`` restores the weights, the optimizer and the iteration count, but not
what decides the next batches and draws:

* **the data order.** mmdet's ``InfiniteGroupBatchSampler`` (iteration-based runners) starts
  its permutation stream again from the seed, so a resumed run re-reads the first batches.
  :class:`ResumableGroupBatchSampler` yields the same stream and skips the batches this rank
  already consumed (indices only; no image is loaded for them). Epoch-based runs resume at an
  epoch boundary, where mmdet's samplers already start a fresh epoch from the seed and the
  epoch number (distributed) or from numpy's generator (one process, restored below).
* **the random states** (Python's ``random``, numpy's and torch's generators: random flips,
  reference-frame picks, RoI sampling). Every checkpoint stores them
  (:func:`rng_state`, under ``meta['rng_state']``, in types ``torch.load(weights_only=True)``
  accepts) and :class:`RestoreRNGHook` puts them back once the data loader's iterator exists
  (creating it draws from torch's generator, as it did at the start of the uninterrupted run)
  and before the first batch is drawn.
"""
import random
from functools import partial

import numpy as np
import torch
from mmcv.runner import HOOKS, Hook
from mmdet.datasets.samplers import InfiniteGroupBatchSampler

RNG_KEY = "rng_state"


def rng_state():
    """The random states of this process, as plain lists, ints and tensors."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(python=random.getstate(),
                 numpy=[kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Put back what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@HOOKS.register_module()
class RestoreRNGHook(Hook):
    """Restores a checkpoint's random states once, at the start of the first epoch of the
    resumed run: mmcv's ``IterBasedRunner.run`` calls ``before_epoch`` after building its
    ``IterLoader`` and before drawing a batch; ``EpochBasedRunner`` calls
    ``before_train_epoch`` (which defaults to ``before_epoch``) before iterating its loader."""

    def __init__(self, state=None):
        self.state = state

    def before_epoch(self, runner):
        if self.state is not None:
            set_rng_state(self.state)
            self.state = None


class ResumableGroupBatchSampler(InfiniteGroupBatchSampler):
    """mmdet's ``InfiniteGroupBatchSampler`` (the same batches for the same seed) that skips
    the first ``start`` batches of this rank: a run resumed after ``start`` iterations reads
    on where the interrupted one stopped.

    mmdet's ``__init__`` agrees on the seed across ranks by broadcasting a CUDA tensor
    (``sync_random_seed``), which gloo on CPUs cannot; every rank is given the same seed by
    the command line, so it is used as it is, and the rest of that ``__init__`` is done here
    (mmdet/datasets/samplers/infinite_sampler.py, 2.28.2)."""

    def __init__(self, dataset, batch_size, world_size, rank, seed=0, start=0):
        self.rank, self.world_size = rank, world_size
        self.dataset, self.batch_size = dataset, batch_size
        self.seed, self.shuffle = int(seed), True
        self.flag = dataset.flag
        self.group_sizes = np.bincount(self.flag)
        self.buffer_per_group = {k: [] for k in range(len(self.group_sizes))}
        self.size = len(dataset)
        self.indices = self._indices_of_rank()
        self.start = int(start)

    def __iter__(self):
        batches = super().__iter__()
        for _ in range(self.start):
            next(batches)
        self.start = 0
        yield from batches


def build_train_loader(dataset, samples_per_gpu, workers_per_gpu, seed, runner_type,
                       distributed, start_iter=0):
    """The training data loader: for iteration-based runners the project's own (mmdet's
    ``build_dataloader`` with :class:`ResumableGroupBatchSampler`, starting after
    ``start_iter`` batches); epoch-based runners keep mmdet's."""
    from mmcv.parallel import collate
    from mmcv.runner import get_dist_info
    from mmdet.datasets import build_dataloader
    from mmdet.datasets.builder import worker_init_fn
    from torch.utils.data import DataLoader
    if runner_type != "IterBasedRunner":
        return build_dataloader(dataset, samples_per_gpu, workers_per_gpu, num_gpus=1,
                                dist=distributed, seed=seed, runner_type=runner_type,
                                persistent_workers=False)
    rank, world = get_dist_info()
    sampler = ResumableGroupBatchSampler(dataset, samples_per_gpu, world, rank, seed=seed,
                                         start=start_iter)
    return DataLoader(dataset, batch_size=1, batch_sampler=sampler,
                      num_workers=workers_per_gpu,
                      collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
                      pin_memory=False, persistent_workers=False,
                      worker_init_fn=partial(worker_init_fn, num_workers=workers_per_gpu,
                                             rank=rank, seed=seed))
