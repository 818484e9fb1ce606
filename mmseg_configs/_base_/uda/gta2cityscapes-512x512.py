# GTA5 -> Cityscapes for stage-2 UDA (DAFormer's data setting): GTA5 resized
# to 1280x720 and Cityscapes to 1024x512, random 512x512 crops, flips;
# Cityscapes train images unlabelled (UDADataset never reads their labels),
# Cityscapes val (500 images at 1024x512) for scoring. Layouts: GTA5
# data_root/images + labels (Cityscapes label ids), Cityscapes
# leftImg8bit/ + gtFine/ (labelIds or labelTrainIds); tools/train_uda.py
# --source-root / --target-root set the two roots.
source_root = 'data/gta5'
target_root = 'data/cityscapes'
crop_size = (512, 512)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        seed=0,
        source=dict(type='GTA5Dataset', data_root=source_root,
                    pipeline=source_pipeline),
        target=dict(type='CityscapesLabelIdsDataset', data_root=target_root,
                    data_prefix=dict(img_path='leftImg8bit/train',
                                     seg_map_path='gtFine/train'),
                    pipeline=target_pipeline)))
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
