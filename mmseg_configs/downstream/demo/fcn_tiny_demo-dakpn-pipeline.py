# + DA-KPN as a CPU pipeline transform in the dataloader workers.
# noise='fresh': a new noise field every time an image is drawn (a sensor
# never repeats its noise); the colour and blur maps stay those the
# translator predicts for the image.
_base_ = ['./fcn_tiny_demo-source-only.py']
bundle = 'work_dirs/demo/dakpn/dakpn_bundle.pth'
dakpn_pipeline = [dict(type='DAKPNTranslate', checkpoint=bundle, prob=1.0,
                       device='cpu', noise='fresh')]
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
train_tail = [
    dict(type='Resize', scale=(320, 192), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=load + dakpn_pipeline +
                                     train_tail))
