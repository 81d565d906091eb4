# The paper's schedule: SGD lr 0.005 for a batch of 24 (4 GPUs x 6), 12 epochs,
# lr x0.1 at epochs 8 and 11.
optimizer = dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', warmup='linear', warmup_iters=500, warmup_ratio=1.0 / 3,
                 step=[8, 11])
runner = dict(type='EpochBasedRunner', max_epochs=12)
# the batch the lr above was tuned for: objprop train rescales lr linearly from it
base_batch_size = 24
