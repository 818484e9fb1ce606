# Ablation: the demo encoder (encoder_demo.py) without its white-balance
# cast augmentation (RandomColorCast), the default until 2026-12-01.
# Measured on the demo zoo (README, "Translation quality on a zoo of
# cameras"; 2 encoder seeds): the encoder's mIoU on the warm camera's real
# images drops from ~31 to ~15 (sky IoU ~68 -> ~10); downstream, DA-KPN
# through it scores 25.4 +- 1.5 (warm), 30.6 +- 2.0 (demo) and 22.6 +- 5.0
# (cold) mIoU against 36.8 +- 1.7, 32.1 +- 1.2 and 32.5 +- 0.6 through the
# default encoder (3 DA-KPN seeds each), and loses its lead over histogram
# matching on warm.
_base_ = ['./encoder_demo.py']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomBlurNoise', blur_prob=0.5, sigma=(0.5, 3.0),
         noise_prob=0.5, noise_std=(0.0, 0.06)),
    dict(type='Resize', scale=(160, 96), keep_ratio=False),
    dict(type='PhotoMetricDistortion', contrast_range=(0.5, 1.5),
         saturation_range=(0.3, 1.5), hue_delta=10),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
