checkpoint_config = dict(interval=1)
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook'),
                                      dict(type='TensorboardLoggerHook')])
custom_imports = dict(imports=['objprop.models', 'objprop.data.dataset'],
                      allow_failed_imports=False)
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
opencv_num_threads = 0
mp_start_method = 'fork'
auto_scale_lr = dict(enable=False, base_batch_size=24)
# results file: keep tracks of at least this many frames (1: every track, as MaskTrack R-CNN's
# results2json_videoseg; the ObjProp authors' copy drops one-frame tracks: min_frames=2)
test_results = dict(min_frames=1)
