# Pixel-level cycle association (PLCA) on the demo data, at the paper's two
# levels: the backbone's last stage (cosine) and the class logits (negative
# KL), weight 0.1 each, target aggregation 0.5, entropy regulariser 0.01.
# At most 2048 pixels per domain and level take part in a step (the
# paper-scale default is 4096; 2048 costs a third of it on 2 CPU cores:
# 1.7 s -> 0.6 s per step).
_base_ = ['./fcn_tiny_demo-uda-source-only.py']
model = dict(methods=[
    dict(type='PixelCycleAssociation', level='features', weight=0.1,
         max_pixels=2048, target_aggregation=0.5, entropy_weight=0.01),
    dict(type='PixelCycleAssociation', level='logits', weight=0.1,
         max_pixels=2048, target_aggregation=0.5),
])
