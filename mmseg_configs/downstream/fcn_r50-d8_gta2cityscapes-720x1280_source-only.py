# Paper table 3 at 720x1280: the 512x512 setting with every image resized
# to the full 720x1280 instead (see that file for the rest).
_base_ = ['./fcn_r50-d8_gta2cityscapes-512x512_source-only.py']

scale = (1280, 720)  # (w, h)
crop_size = (720, 1280)
model = dict(data_preprocessor=dict(size=crop_size))
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
dakpn_pipeline = []
train_tail = [
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=load + dakpn_pipeline +
                                     train_tail))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
