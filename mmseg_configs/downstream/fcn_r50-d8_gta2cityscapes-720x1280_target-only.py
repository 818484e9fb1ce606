# Oracle: trained on labelled Cityscapes train.
_base_ = ['./fcn_r50-d8_gta2cityscapes-720x1280_source-only.py']
target_root = 'data/cityscapes'
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CityscapesLabelIdsDataset', data_root=target_root,
    data_prefix=dict(img_path='leftImg8bit/train',
                     seg_map_path='gtFine/train'),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(1280, 720), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]))
