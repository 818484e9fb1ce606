# Semantic-encoder pretraining on the demo data (DA-KPN-S style: labelled
# synthetic source), sized for a 2-core CPU: the light fcn_tiny (~0.2M
# parameters, no pretrained weights, BN), batch 8, 600 iterations, about
# 2-3 minutes.
#
#   python tools/make_demo_data.py work_dirs/demo/data
#   python tools/train_segmentor.py mmseg_configs/demo/encoder_demo.py \
#       --work-dir work_dirs/demo/encoder
#   -> work_dirs/demo/encoder/encoder.pth (tools/train_dakpn.py
#      --encoder-checkpoint)
#
# Validation: a held-out sixth of the synthetic images (every 6th file,
# GTA5Dataset holdout_every/subset), not the real-domain val split. The
# encoder is trained on the synthetic domain only, so held-out synthetic
# images show whether it learned the classes; the real val split would mix
# that with the domain gap DA-KPN is there to close (evaluate it with
# `--val-data-root work_dirs/demo/data/cityscapes`). `--data-root DIR`
# with a Cityscapes-layout DIR trains on its train split instead (DA-KPN-T)
# and validates on its val split.
_base_ = [
    '../encoders/fcn_tiny_96x160.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'work_dirs/demo/data/gta5'
enc_scale = (160, 96)  # (w, h): the encoder sees 96x160 images

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # GTA5Dataset inserts MapLabelIdsToTrainIds (label ids -> train ids)
    # right after LoadAnnotations.
    dict(type='LoadAnnotations'),
    # Robustness to cameras: DA-KPN reads the classes of *real* images
    # from this encoder (its class-conditional statistics), and without
    # photometric augmentation an encoder trained on clean renderings
    # calls most of a soft, noisy, desaturated photograph "road" (measured:
    # building recall 12%, vegetation 0% on the demo camera).
    dict(type='RandomBlurNoise', blur_prob=0.5, sigma=(0.5, 3.0),
         noise_prob=0.5, noise_std=(0.0, 0.06)),
    # A white-balance cast (red and blue gains in [0.7, 1.3], a typical
    # white-balance error, not fitted to a camera): the hue rotation below
    # turns coloured pixels but leaves grey ones grey, while a camera's
    # cast tints the greys too. Without it (ablation: encoder_demo_no-cast.py)
    # the encoder called 86% of the zoo's warm camera's real sky
    # "building", DA-KPN's per-class statistics read through it gave the
    # translated sky the buildings' brightness, and the downstream
    # segmenter missed the real sky (README, "Translation quality on a zoo
    # of cameras": the encoder ablation).
    dict(type='RandomColorCast', prob=0.5, gain=(0.7, 1.3)),
    dict(type='Resize', scale=enc_scale, keep_ratio=False),
    dict(type='PhotoMetricDistortion', contrast_range=(0.5, 1.5),
         saturation_range=(0.3, 1.5), hue_delta=10),
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
        type='GTA5Dataset',
        data_root=data_root,
        holdout_every=6,
        subset='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='GTA5Dataset',
        data_root=data_root,
        holdout_every=6,
        subset='holdout',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# A small network from scratch: AdamW + poly decay converges much faster
# than mmseg's SGD 0.01 here.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-3, betas=(0.9, 0.999),
                   weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=30, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=30, end=600,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600, val_interval=200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200,
                    max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
log_processor = dict(by_epoch=False, window_size=50)
