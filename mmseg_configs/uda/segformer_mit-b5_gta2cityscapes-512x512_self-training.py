# DAFormer-style self-training (EMA teacher, ClassMix, confidence-weighted
# pseudo labels, rare-class sampling) of a SegFormer-B5, GTA5 -> Cityscapes,
# with DAFormer's settings where mmseg 1.x has the parts:
# MiT-B5 backbone with the SegFormer (all-MLP) head instead of DAFormer's
# context-aware fusion head; AdamW 6e-5 (head x10), weight decay 0.01,
# 1500 linear warm-up iterations then poly 1.0, 40k iterations, batch 2,
# 512x512 crops; alpha 0.999, threshold 0.968, rare-class sampling T 0.01
# with 3000 pixels; ego-car rows (top 15, bottom 120) ignored in pseudo
# labels; no ImageNet feature distance (see dakpn_aug/uda/methods/
# self_training.py). Add DA-KPN with tools/train_uda.py --bundle.
# ImageNet-pretrained MiT-B5 weights are NOT downloaded (no network at run
# time): pass them with --cfg-options model.segmentor.pretrained=PATH
# (mmseg's converted mit_b5 checkpoint).
_base_ = [
    '../_base_/uda/segformer_mit-b5_uda.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/uda/gta2cityscapes-512x512.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'
model = dict(
    methods=[
        dict(type='EMASelfTraining', weight=1.0, alpha=0.999,
             threshold=0.968, weighting='fraction', ignore_top=15,
             ignore_bottom=120,
             strong_aug=dict(jitter=0.2, jitter_prob=0.2, blur_prob=0.5)),
    ])
train_dataloader = dict(dataset=dict(
    rare_class_sampling=dict(temperature=0.01, min_pixels=3000,
                             cache_file='work_dirs/rcs_gta5.json')))
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    segmentor=dict(
        optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                       weight_decay=0.01),
        paramwise_cfg=dict(custom_keys=dict(
            head=dict(lr_mult=10.0), pos_block=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0)))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000,
                    max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
