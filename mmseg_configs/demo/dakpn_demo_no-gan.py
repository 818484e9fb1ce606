# Ablation: the demo recipe without the adversarial terms (statistics
# matching and the identity loss only).
_base_ = ['./dakpn_demo.py']

model = dict(loss_weights=dict(gan_patch=0.0, gan_lowres=0.0))
