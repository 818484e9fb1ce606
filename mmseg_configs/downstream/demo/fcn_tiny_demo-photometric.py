# Photometric-augmentation baseline: the source-only setting plus mmseg's
# PhotoMetricDistortion (brightness, contrast, saturation, hue jitter).
_base_ = ['./fcn_tiny_demo-source-only.py']
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
train_dataloader = dict(dataset=dict(pipeline=load + [
    dict(type='PhotoMetricDistortion'),
    dict(type='Resize', scale=(320, 192), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]))
