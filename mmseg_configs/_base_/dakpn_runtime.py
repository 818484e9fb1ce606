# Runtime shared by the DA-KPN training configs (mmengine Runner).
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train_dakpn.py switches to gloo when there is no GPU.
    dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=False, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
