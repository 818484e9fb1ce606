# Stage 2 on the demo data, sized for a 2-core CPU: the light FCN trained on
# the labelled synthetic images (GTA5 layout) paired with unlabelled real
# images (Cityscapes layout, train split; its labels are never read), and
# evaluated on the real val split. This file is the base of the demo UDA
# configs: no adaptation method and no DA-KPN (the siblings add them).
#   tools/train_uda.py mmseg_configs/uda/demo/fcn_tiny_demo-uda-source-only.py
_base_ = [
    '../../_base_/uda/fcn_tiny_uda.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'

source_root = 'work_dirs/demo/data/gta5'
target_root = 'work_dirs/demo/data/cityscapes'
bundle = 'work_dirs/demo/dakpn/dakpn_bundle.pth'
scale = (320, 192)  # (w, h): the demo images' size
crop_size = (192, 320)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # dropped from the target's copy
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

model = dict(segmentor=dict(data_preprocessor=dict(size=crop_size)))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        seed=0,
        source=dict(type='GTA5Dataset', data_root=source_root,
                    pipeline=train_pipeline),
        target=dict(type='CityscapesLabelIdsDataset', data_root=target_root,
                    data_prefix=dict(img_path='leftImg8bit/train',
                                     seg_map_path='gtFine/train'),
                    pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CityscapesLabelIdsDataset', data_root=target_root,
                 data_prefix=dict(img_path='leftImg8bit/val',
                                  seg_map_path='gtFine/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    segmentor=dict(optimizer=dict(type='AdamW', lr=4e-3, weight_decay=1e-4)))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=30, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=30, end=400,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400,
                    max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
log_processor = dict(by_epoch=False)
