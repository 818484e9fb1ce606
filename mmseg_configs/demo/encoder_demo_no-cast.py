# Ablation: the demo encoder (encoder_demo.py) without its white-balance
# cast augmentation (RandomColorCast), the default until 2026-12-01.
# Measured on the demo zoo (README, "Translation quality on a zoo of
# cameras"): the encoder's mIoU on the warm camera's real images drops
# from ~31 to ~15 (sky IoU ~68 -> ~10), and DA-KPN trained through it loses
# the warm camera's downstream lead.
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
