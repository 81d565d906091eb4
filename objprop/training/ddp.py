"""Distributed training on the CPU as on GPUs: :class:`DDPTrainer`, registered in mmcv's
``MODULE_WRAPPERS``.

mmdet's ``build_ddp`` refuses the CPU, so the detector is wrapped here in torch's
``DistributedDataParallel`` behind a ``train_step`` adaptor. Registered as an mmcv module
wrapper, mmcv's checkpoint functions see through it and save the detector's own keys.
"""
import torch
from mmcv.parallel import MODULE_WRAPPERS, scatter_kwargs


class _TrainStep(torch.nn.Module):
    """DDP runs ``forward``; this one runs the detector's ``train_step`` (loss, log vars)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, data_batch, optimizer=None, **kwargs):
        return self.module.train_step(data_batch, optimizer, **kwargs)


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
        ins, kws = scatter_kwargs(inputs, kwargs, self.device_ids or [-1], dim=0)
        return ins[0], kws[0]

    def train_step(self, data_batch, optimizer=None, **kwargs):
        (data,), kw = self._scatter((data_batch,), kwargs)
        return self.ddp(data, optimizer, **kw)

    def val_step(self, data_batch, optimizer=None, **kwargs):
        (data,), kw = self._scatter((data_batch,), kwargs)
        return self.module.val_step(data, optimizer, **kw)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
