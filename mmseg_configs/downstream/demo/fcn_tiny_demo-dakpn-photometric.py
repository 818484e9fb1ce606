# DA-KPN and the photometric baseline together: translate to the real look
# first, then jitter (PhotoMetricDistortion after DAKPNTranslate, so the
# translator's encoder sees the synthetic images it was trained on).
_base_ = ['./fcn_tiny_demo-dakpn-pipeline.py']
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
train_dataloader = dict(dataset=dict(pipeline=load + [
    dict(type='DAKPNTranslate', checkpoint={{_base_.bundle}}, prob=1.0,
         device='cpu', noise='fresh'),
    dict(type='PhotoMetricDistortion'),
    dict(type='Resize', scale=(320, 192), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]))
