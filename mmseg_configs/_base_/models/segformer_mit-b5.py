# SegFormer-B5 (mmseg's MiT-B5 backbone + all-MLP head) for 512x512 crops.
# Its ImageNet weights are not downloaded (no network at run time): pass
# mmseg's converted mit_b5 checkpoint as the segmentor's `pretrained`
# (inside a UDA config: --cfg-options model.segmentor.pretrained=PATH);
# without it the backbone starts from random weights.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(embed_dims=64, num_layers=[3, 6, 40, 3], init_cfg=None),
    decode_head=dict(in_channels=[64, 128, 320, 512]))
