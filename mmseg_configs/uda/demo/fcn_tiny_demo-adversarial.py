# Output-space adversarial alignment (AdaptSegNet, multi-level: main and
# auxiliary heads) on the demo data; the paper's weights (0.001, 0.0002)
# and discriminator optimiser (Adam 1e-4, betas 0.9/0.99).
_base_ = ['./fcn_tiny_demo-uda-source-only.py']
model = dict(methods=[
    dict(type='OutputAdversarial', weight=0.001, aux_weight=0.0002,
         base_channels=64)
])
disc_optim = dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))
optim_wrapper = dict(discriminator=disc_optim, discriminator_aux=disc_optim)
