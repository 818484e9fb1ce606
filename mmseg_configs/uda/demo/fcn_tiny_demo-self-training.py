# Self-training with an EMA teacher, ClassMix and DAFormer's pseudo-label
# weighting on the demo data (DAFormer's settings: alpha 0.999, threshold
# 0.968, colour jitter 0.2 / blur 0.5; no ego-car rows on the demo images).
_base_ = ['./fcn_tiny_demo-uda-source-only.py']
model = dict(methods=[
    dict(type='EMASelfTraining', weight=1.0, alpha=0.999, threshold=0.968,
         weighting='fraction')
])
