# DA-KPN-S semantic encoder: FCN-ResNet50-D8 trained on labelled GTA5 (the
# synthetic source) at 96x160, validated on Cityscapes val (the real target)
# -- paper section 3.3 / 4.1. mmseg 1.x Runner config:
#
#   python tools/train_segmentor.py \
#       mmseg_configs/fcn_r50-d8_gta5-96x160_encoder.py \
#       --data-root data/gta5 --val-data-root data/cityscapes
#   -> work_dirs/fcn_r50-d8_gta5-96x160_encoder/encoder.pth
#      (SemanticEncoder('fcn_r50-d8', checkpoint=...),
#       tools/train_dakpn.py --encoder-checkpoint)
#
# GTA5 labels hold Cityscapes label ids; GTA5Dataset maps them to the 19
# train ids. Cityscapes val reads *_gtFine_labelTrainIds.png when present,
# else *_gtFine_labelIds.png (CityscapesLabelIdsDataset), so no conversion
# step is needed. BN instead of SyncBN and pretrained=None (no download):
# for an ImageNet start, set model.pretrained or load_from to a local file.
_base_ = [
    './encoders/fcn_r50-d8_96x160.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/gta5'  # images/, labels/
val_data_root = 'data/cityscapes'  # leftImg8bit/val, gtFine/val
enc_scale = (160, 96)  # (w, h): the encoder sees 96x160 images

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # The datasets insert MapLabelIdsToTrainIds right after LoadAnnotations.
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=enc_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=enc_scale, keep_ratio=False),
    # After Resize: predictions are scored at the label's full resolution.
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='GTA5Dataset', data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesLabelIdsDataset',
        data_root=val_data_root,
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# mmseg's 40k schedule (SGD 0.01, poly), validating every 4k iterations.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000,
                    max_keep_ckpts=3, save_last=True))
env_cfg = dict(cudnn_benchmark=True)
randomness = dict(seed=0)
