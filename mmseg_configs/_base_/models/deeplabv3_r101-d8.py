# DeepLabV3-R101-D8 (mmseg has no DeepLabV2, the AdaptSegNet-era network):
# ASPP head on a dilated ResNet-101 (output stride 8), FCN auxiliary head on
# stage 3. Plain BN (SyncBN needs a distributed launcher). ImageNet weights
# are not downloaded: set pretrained=PATH. Batches are padded to a multiple
# of 8 (whole images of any size, e.g. GTA5 1280x720 and Cityscapes 1024x512).
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=None, size_divisor=8),
    backbone=dict(depth=101, norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg))
