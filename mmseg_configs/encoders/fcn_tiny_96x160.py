# A light FCN for the CPU demo and tests: ResNet-18-D8 layout at 1/8 width
# (~0.2M parameters). Same interface as the paper's FCN-R50-D8.
_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (96, 160)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=8,
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=64, channels=32, num_convs=1, num_classes=19,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=32, channels=16, num_classes=19, norm_cfg=norm_cfg))
