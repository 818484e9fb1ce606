# Self-training with an EMA teacher, ClassMix and DAFormer's pseudo-label
# weighting on the demo data: DAFormer's threshold (0.968) and strong
# augmentation (colour jitter 0.2 with p 0.2, blur with p 0.5), but DACS'
# EMA decay 0.99 instead of DAFormer's 0.999: with alpha_t = min(1 - 1/(t+1),
# alpha), 0.999 makes the teacher the plain average of every student of a
# 400-iteration run (its time constant is 1000 iterations); 0.99 follows the
# student within ~100. No ego-car rows on the demo images.
_base_ = ['./fcn_tiny_demo-uda-source-only.py']
model = dict(methods=[
    dict(type='EMASelfTraining', weight=1.0, alpha=0.99, threshold=0.968,
         weighting='fraction')
])
