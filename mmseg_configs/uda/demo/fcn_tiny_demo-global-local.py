# Global then local adversarial alignment on the demo data: step one, the
# global output-space alignment of fcn_tiny_demo-adversarial.py for the
# first half of the run; step two, local pixel-level alignment with the
# mixture module (dakpn_aug/uda/methods/local_adversarial.py) for the
# second half. The switch is by iteration (end / begin); tools/train_uda.py
# --max-iters does not move it.
_base_ = ['./fcn_tiny_demo-adversarial.py']
switch = 200
model = dict(methods=[
    dict(type='OutputAdversarial', weight=0.001, aux_weight=0.0002,
         base_channels=64, end=switch),
    dict(type='LocalAdversarial', weight=0.001, hidden=64, begin=switch),
])
optim_wrapper = dict(local_discriminator={{_base_.disc_optim}})
