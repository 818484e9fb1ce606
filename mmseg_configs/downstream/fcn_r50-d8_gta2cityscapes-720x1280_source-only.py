# Paper table 3 at 720x1280: FCN-R50-D8 trained on GTA5 (translated or not),
# evaluated on the 500 Cityscapes val images, all resized to 720x1280
# ("resizing the images to either 512x512 or the full 720x1280").
# mmseg's 80k schedule; ImageNet-pretrained backbone weights are NOT
# downloaded: pass your own with --cfg-options model.pretrained=PATH or
# load_from=PATH (no network at run time).
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'

source_root = 'data/gta5'
target_root = 'data/cityscapes'
bundle = 'work_dirs/dakpn/dakpn_bundle.pth'
scale = (1280, 720)  # (w, h)
crop_size = (720, 1280)
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a launcher
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg))

load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
dakpn_pipeline = []
train_tail = [
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='GTA5Dataset', data_root=source_root,
                 pipeline=load + dakpn_pipeline + train_tail))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CityscapesLabelIdsDataset', data_root=target_root,
                 data_prefix=dict(img_path='leftImg8bit/val',
                                  seg_map_path='gtFine/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
