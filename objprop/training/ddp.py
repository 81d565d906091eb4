"""Distributed training on the CPU as on GPUs: :class:`DDPTrainer`, registered in mmcv's
``MODULE_WRAPPERS``.

mmdet's ``build_ddp`` refuses the CPU, so the detector is wrapped here in torch's
``DistributedDataParallel`` behind a ``train_step`` adaptor. Registered as an mmcv module
wrapper, mmcv's checkpoint functions see through it and save the detector's own keys.
"""
import torch
from mmcv.parallel import MODULE_WRAPPERS, MMDataParallel, scatter_kwargs


class _TrainStep(torch.nn.Module):
    """DDP runs ``forward``; this one runs the detector's ``train_step`` (loss, log vars)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, data_batch, optimizer=None, **kwargs):
        return self.module.train_step(data_batch, optimizer, **kwargs)


def scatter_targets(device_ids):
    """The targets to give mmcv's ``scatter_kwargs``: ``[-1]`` for the CPU, else each GPU as a
    ``torch.device``. mmcv 1.7 hands every target to torch's ``_get_stream``
    (mmcv/parallel/_functions.py, ``Scatter.forward``), which reads ``device.type`` since
    torch 2: a plain GPU index there fails with "'int' object has no attribute 'type'" (seen
    on an H200 machine, torch 2.11)."""
    return [-1] if not device_ids else [torch.device("cuda", i) for i in device_ids]


@MODULE_WRAPPERS.register_module()
class GPUDataParallel(MMDataParallel):
    """mmcv's ``MMDataParallel`` on one GPU, its batches scattered to
    :func:`scatter_targets`."""

    def scatter(self, inputs, kwargs, device_ids):
        return super().scatter(inputs, kwargs, scatter_targets(device_ids))


@MODULE_WRAPPERS.register_module()
class DDPTrainer(torch.nn.Module):
    """torch ``DistributedDataParallel`` with mmcv's ``train_step`` interface, on the CPU
    (gloo, ``device_ids=None``) or one GPU per process (NCCL). ``.module`` is the bare
    detector, so mmcv's checkpoint functions save and load its own keys."""

    def __init__(self, module, device_ids=None, **ddp_kwargs):
        super().__init__()
        self.module = module
        self.device_ids = device_ids
        self.ddp = torch.nn.parallel.DistributedDataParallel(
            _TrainStep(module), device_ids=device_ids, **ddp_kwargs)

    def _scatter(self, inputs, kwargs):
        ins, kws = scatter_kwargs(inputs, kwargs, scatter_targets(self.device_ids), dim=0)
        return ins[0], kws[0]

    def train_step(self, data_batch, optimizer=None, **kwargs):
        (data,), kw = self._scatter((data_batch,), kwargs)
        return self.ddp(data, optimizer, **kw)

    def val_step(self, data_batch, optimizer=None, **kwargs):
        (data,), kw = self._scatter((data_batch,), kwargs)
        return self.module.val_step(data, optimizer, **kw)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
