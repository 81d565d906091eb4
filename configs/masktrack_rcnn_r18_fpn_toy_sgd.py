# A fidelity trial (objprop.studies.trials, `make trials`): the toy baseline trained with the
# paper's optimiser instead of the toy's AdamW, from the same pretrained start. The paper's
# schedule (configs/_base_/schedules/schedule_12e.py, Sec. 2.2): SGD, momentum 0.9, weight
# decay 1e-4, lr 0.005 for a batch of 24, which objprop train scales linearly to the toy's
# batch of 2; no gradient clipping. The toy's warm-up, lr steps and length stay.
_base_ = './masktrack_rcnn_r18_fpn_toy.py'
optimizer = dict(_delete_=True, type='SGD', lr=0.005, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(_delete_=True, grad_clip=None)
base_batch_size = 24
auto_scale_lr = dict(enable=False, base_batch_size=24)
