# Output-space adversarial alignment (AdaptSegNet) on the demo data: the
# paper's main-output weight (0.001) and discriminator optimiser (Adam 1e-4,
# betas 0.9/0.99). Sized for 2 CPU cores: single-level (the paper reports
# both; its multi-level variant is `aux_weight=0.0002` plus a
# `discriminator_aux` optimiser, as in the paper-scale config) and a
# discriminator of width 16 instead of 64, which costs a quarter of the
# paper's (2.6 s -> 0.85 s per step here, where the light FCN's own step is
# 0.6 s).
_base_ = ['./fcn_tiny_demo-uda-source-only.py']
model = dict(methods=[
    dict(type='OutputAdversarial', weight=0.001, base_channels=16)
])
disc_optim = dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))
optim_wrapper = dict(discriminator=disc_optim)
