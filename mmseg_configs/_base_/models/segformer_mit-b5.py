# SegFormer-B5 (mmseg's MiT-B5 backbone + all-MLP head) for 512x512 crops.
# Its ImageNet weights are not downloaded: set backbone.init_cfg.checkpoint.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(embed_dims=64, num_layers=[3, 6, 40, 3],
                  init_cfg=dict(type='Pretrained', checkpoint=None)),
    decode_head=dict(in_channels=[64, 128, 320, 512]))
