"""objprop.training.resume: the sampler reads on where a run stopped, and the random states
survive a checkpoint (weights_only) round trip."""
import itertools
import random

import numpy as np
import torch
from mmdet.datasets.samplers import InfiniteGroupBatchSampler

from objprop.training.resume import ResumableGroupBatchSampler, rng_state, set_rng_state


class FlaggedData:
    """What the group samplers read: a length and an aspect-ratio group per item."""

    def __init__(self, n=11):
        self.flag = np.array([i % 2 for i in range(n)], dtype=np.uint8)

    def __len__(self):
        return len(self.flag)


def take(sampler, n):
    return [list(b) for b in itertools.islice(iter(sampler), n)]


def test_same_batches_as_mmdet_and_a_resumed_sampler_reads_on():
    data = FlaggedData()
    mmdet = take(InfiniteGroupBatchSampler(data, 2, 1, 0, seed=3), 20)
    assert take(ResumableGroupBatchSampler(data, 2, 1, 0, seed=3), 20) == mmdet
    assert take(ResumableGroupBatchSampler(data, 2, 1, 0, seed=3, start=7), 13) == mmdet[7:]
    assert take(ResumableGroupBatchSampler(data, 2, 1, 0, seed=4), 20) != mmdet
    # two ranks split the same stream as mmdet's do
    for rank in (0, 1):
        assert take(ResumableGroupBatchSampler(data, 1, 2, rank, seed=3, start=2), 5) == \
            take(InfiniteGroupBatchSampler(data, 1, 2, rank, seed=3), 7)[2:]


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    torch.save(dict(meta=dict(rng_state=rng_state())), tmp_path / "c.pth")
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    random.seed(2), np.random.seed(2), torch.manual_seed(2)  # something else drew meanwhile
    set_rng_state(torch.load(tmp_path / "c.pth", weights_only=True)["meta"]["rng_state"])
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == first
