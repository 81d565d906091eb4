"""Where batches go: mmcv 1.7's scatter and torch 2's ``_get_stream``, which the GPU check on
an H200 machine found at odds (``'int' object has no attribute 'type'``)."""
import pytest
import torch
from mmcv.parallel import DataContainer, scatter_kwargs
from torch.nn.parallel._functions import _get_stream

from objprop.training.ddp import scatter_targets


def test_torch_reads_the_device_type_so_a_plain_gpu_index_fails_there():
    # the call mmcv's Scatter.forward makes for each target GPU
    with pytest.raises(AttributeError, match="'int' object has no attribute 'type'"):
        _get_stream(0)
    _get_stream(scatter_targets([0])[0])     # a torch.device: no error (None without a GPU)


def test_scatter_targets_are_gpu_devices_or_the_cpu():
    assert scatter_targets([0, 2]) == [torch.device("cuda", 0), torch.device("cuda", 2)]
    assert scatter_targets(None) == [-1] and scatter_targets([]) == [-1]


def test_the_cpu_target_still_unwraps_mmcvs_data_containers():
    batch = dict(img=DataContainer([torch.ones(1, 3, 4, 4)], stack=True),
                 img_metas=DataContainer([[dict(id=1)]], cpu_only=True))
    ((data,),), (kw,) = scatter_kwargs((batch,), {}, scatter_targets(None), dim=0)
    assert torch.equal(data["img"], torch.ones(1, 3, 4, 4)) and data["img_metas"] == [dict(id=1)]
    assert kw == {}

