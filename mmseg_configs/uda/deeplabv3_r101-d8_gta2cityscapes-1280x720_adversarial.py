# AdaptSegNet (multi-level output-space adversarial alignment), GTA5 ->
# Cityscapes, with the paper's settings where mmseg 1.x has the parts:
# DeepLabV3-R101-D8 instead of DeepLabV2-R101 (main output = ASPP head,
# auxiliary output = FCN head on stage 3); GTA5 at 1280x720 and Cityscapes
# at 1024x512, whole images, batch 2 (the paper: 1; the image-pooling
# branch of mmseg's ASPP head normalises over the batch); adversarial weights 0.001 (main) and
# 0.0002 (auxiliary); auxiliary segmentation loss 0.1 (AdaptSegNet's
# LAMBDA_SEG); segmenter SGD 2.5e-4, momentum 0.9, weight decay 5e-4,
# classifier heads x10, poly 0.9 over 250k iterations stopped at 150k
# (NUM_STEPS / NUM_STEPS_STOP of the paper's code); discriminators Adam
# 1e-4, betas (0.9, 0.99), same poly. Add DA-KPN with tools/train_uda.py
# --bundle. ImageNet weights are not downloaded: --cfg-options
# model.segmentor.pretrained=PATH (no network at run time).
_base_ = [
    '../_base_/uda/deeplabv3_r101-d8_uda.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/uda/gta2cityscapes-512x512.py',
]
custom_imports = dict(imports=['dakpn_aug'], allow_failed_imports=False)
default_scope = 'mmseg'
model = dict(
    methods=[
        dict(type='OutputAdversarial', weight=0.001, aux_weight=0.0002,
             base_channels=64, gan='bce'),
    ],
    # AdaptSegNet weighs the auxiliary segmentation loss 0.1 (mmseg: 0.4).
    segmentor=dict(auxiliary_head=dict(loss_decode=dict(loss_weight=0.1))))
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(source=dict(pipeline=source_pipeline),
                 target=dict(pipeline=target_pipeline)))
disc_optim = dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    segmentor=dict(
        optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                       weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0)))),
    discriminator=disc_optim,
    discriminator_aux=disc_optim)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=250000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=150000,
                 val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
