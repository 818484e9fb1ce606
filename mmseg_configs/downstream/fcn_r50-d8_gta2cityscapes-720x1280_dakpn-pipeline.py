# + DA-KPN as a CPU pipeline transform (dataloader workers).
_base_ = ['./fcn_r50-d8_gta2cityscapes-720x1280_source-only.py']
bundle = 'work_dirs/dakpn/dakpn_bundle.pth'
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
train_dataloader = dict(dataset=dict(pipeline=load + [
    dict(type='DAKPNTranslate', checkpoint=bundle, prob=1.0, device='cpu'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]))
