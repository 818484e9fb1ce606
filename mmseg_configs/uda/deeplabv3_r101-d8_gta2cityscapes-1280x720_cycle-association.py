# Pixel-level cycle association (PLCA), GTA5 -> Cityscapes, with the
# paper's settings where mmseg 1.x has the parts: DeepLabV3-R101-D8 instead
# of DeepLabV2-R101; the two association levels of the authors' code, the
# backbone's last stage (cosine) and the class logits (negative KL), weight
# 0.1 each; target aggregation 0.5; entropy regulariser 0.01; SGD 2.5e-4
# (heads x10), poly 0.9. At most 4096 pixels per domain and level take part
# in a step (the paper: every pixel of a 730x1460 crop at output stride 8);
# no Lovasz-softmax source loss. Add DA-KPN with tools/train_uda.py --bundle.
_base_ = ['./deeplabv3_r101-d8_gta2cityscapes-1280x720_adversarial.py']
model = dict(
    methods=[
        dict(type='PixelCycleAssociation', level='features', weight=0.1,
             max_pixels=4096, target_aggregation=0.5, entropy_weight=0.01),
        dict(type='PixelCycleAssociation', level='logits', weight=0.1,
             max_pixels=4096, target_aggregation=0.5),
    ],
    # PLCA keeps mmseg's auxiliary loss weight (AdaptSegNet's 0.1 is not
    # part of it).
    segmentor=dict(auxiliary_head=dict(loss_decode=dict(loss_weight=0.4))))
optim_wrapper = dict(
    _delete_=True,
    constructor='MultiOptimWrapperConstructor',
    segmentor=dict(
        optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                       weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0)))))
