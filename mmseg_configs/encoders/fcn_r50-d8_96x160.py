# The paper's semantic encoder: FCN-ResNet50-D8 seeing 96x160 images
# (Cityscapes' 19 classes). BN instead of SyncBN so it runs on one CPU/GPU;
# no ImageNet download (pretrained=None): weights come from encoder
# pretraining (tools/train_segmentor.py) or an mmseg checkpoint you supply.
_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (96, 160)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg, num_classes=19),
    auxiliary_head=dict(norm_cfg=norm_cfg, num_classes=19))
