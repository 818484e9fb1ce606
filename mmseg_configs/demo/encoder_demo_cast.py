# The demo encoder (encoder_demo.py) plus a random white-balance cast
# (RandomColorCast: red and blue gains in [0.7, 1.3], half of the images),
# an opt-in under trial, not yet the default.
#
# Why: a hue rotation (PhotoMetricDistortion) turns coloured pixels but
# leaves grey ones grey, while a camera's cast tints greys too. On the demo
# zoo's warm camera the default encoder calls 86% of the real sky
# "building" (sky IoU 14, car 3 on the real val images), so DA-KPN's
# per-class statistics, read through it, give the translated sky the
# buildings' brightness and a segmenter trained on the translation misses
# the real sky. The gain range is a typical white-balance error, not fitted
# to a camera.
#
# Measured (2 seeds each, the zoo's demo data; encoder mIoU over 13 classes
# on each camera's 16 real val images, without -> with the cast): warm
# 16.9, 14.3 -> 31.3, 31.4 (sky IoU 14, 7 -> 67, 69; car 3, 5 -> 58, 62),
# cold 20.3, 20.4 -> 28.5, 27.9, demo 30.7, 30.3 -> 32.1, 31.2, hazy 34.2,
# 34.9 -> 35.0, 35.3, mild 35.0, 34.7 -> 34.4, 34.1; vegetation lower on
# every camera (warm 55, 51 -> 36, 24). DA-KPN and the downstream
# segmenter through it, warm only so far (3 DA-KPN seeds, encoder seed 0):
# downstream 36.78 +- 1.65 mIoU vs 25.38 +- 1.45 with the default encoder
# (README, "Downstream on a camera the recipe was not tuned for"); every
# camera before it becomes the default.
_base_ = ['./encoder_demo.py']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomBlurNoise', blur_prob=0.5, sigma=(0.5, 3.0),
         noise_prob=0.5, noise_std=(0.0, 0.06)),
    dict(type='RandomColorCast', prob=0.5, gain=(0.7, 1.3)),
    dict(type='Resize', scale=(160, 96), keep_ratio=False),
    dict(type='PhotoMetricDistortion', contrast_range=(0.5, 1.5),
         saturation_range=(0.3, 1.5), hue_delta=10),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
