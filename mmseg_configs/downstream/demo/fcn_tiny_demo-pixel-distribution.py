# Training-free peer: albumentations' pixel-distribution (dakpn_aug/peers.py) applied to
# every synthetic training image, references from the real train split.
# tools/benchmark_downstream.py overrides reference_root with its data.
_base_ = ['./fcn_tiny_demo-source-only.py']
load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
peer = [dict(type='PeerTranslate', peer='pixel-distribution',
             reference_root='work_dirs/demo/data/cityscapes',
             reference_split='train')]
train_dataloader = dict(dataset=dict(pipeline=load + peer + [
    dict(type='Resize', scale=(320, 192), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]))
