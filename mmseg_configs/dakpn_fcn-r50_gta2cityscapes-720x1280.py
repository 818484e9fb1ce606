# DA-KPN, the paper's GTA5 -> Cityscapes setting (section 3.3 and 4.1):
# FCN-R50-D8 encoder pretrained on 96x160 labelled GTA5 (DA-KPN-S; use the
# Cityscapes-pretrained encoder for DA-KPN-T), source images resized to
# 720x1280, patches of 1/8 (90x160), Adam 1e-4, batch 8, 100k iterations,
# alternating KPN / discriminator updates, all loss weights 1.
#
#   python tools/train_dakpn.py mmseg_configs/dakpn_fcn-r50_gta2cityscapes-720x1280.py \
#       --source-root data/gta5 --target-root data/cityscapes \
#       --encoder-checkpoint work_dirs/fcn_r50-d8_gta5-96x160_encoder/encoder.pth
_base_ = ['_base_/dakpn_runtime.py']

source_root = 'data/gta5'              # images/, labels/
target_root = 'data/cityscapes'        # leftImg8bit/train/CITY/*.png
encoder_checkpoint = None
low_res = (96, 160)

model = dict(
    type='DAKPN',
    encoder=dict(segmentor='fcn_r50-d8', checkpoint=encoder_checkpoint,
                 input_size=low_res),
    # The paper's formulation, spelled out (the package defaults are the
    # demo recipe's YCbCr affine and zero-mean noise): HSV affine, N(0, 1)
    # clamped to [0, 1] fixed per image size, GAN + identity losses only.
    # The demo recipe's switches (kpn.color_space='ycbcr', noise
    # distribution='gaussian', loss_weights.stats_colour/stats_texture,
    # see mmseg_configs/demo/dakpn_demo.py) apply here unchanged; they are
    # measured on the demo camera zoo, not yet at this scale.
    kpn=dict(kernel_size=3, input_transform='logits', color_space='hsv'),
    discriminator=dict(base_channels=64, num_layers=3, norm='batch'),
    loss_weights=dict(gan_patch=1.0, gan_lowres=1.0, identity=1.0),
    gan_mode='alternating',
    noise=dict(mode='fixed', seed=0, distribution='clamped'),
    lowres_mode='approx',
    # 0.6 MB per GTA5 image in float16 on the CPU: ~15 GB for all 24,966.
    feature_cache_size=0,
    data_preprocessor=dict(type='BaseDataPreprocessor'))

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnpairedTranslationDataset',
        source_root=source_root,
        target_root=target_root,
        target_split='train',
        low_res=low_res,
        patch_scale=8,
        source_size=(720, 1280),
        target_size=(720, 1280),
        seed=0))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000)
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    kpn=dict(optimizer=dict(type='Adam', lr=1e-4)),
    discriminator=dict(optimizer=dict(type='Adam', lr=1e-4)))

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='DAKPNVisualizationHook', interval=2000,
                     num_samples=2)]
