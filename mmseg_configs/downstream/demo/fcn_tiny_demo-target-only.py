# Oracle: trained on the labelled real (Cityscapes-layout) train split.
_base_ = ['./fcn_tiny_demo-source-only.py']
target_root = 'work_dirs/demo/data/cityscapes'
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CityscapesLabelIdsDataset', data_root=target_root,
    data_prefix=dict(img_path='leftImg8bit/train',
                     seg_map_path='gtFine/train'),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(320, 192), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]))
