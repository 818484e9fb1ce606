# Global then local adversarial alignment on the demo data: step one, the
# global output-space alignment of fcn_tiny_demo-adversarial.py for the
# first half of the run; step two, local pixel-level alignment with the
# mixture module (dakpn_aug/uda/methods/local_adversarial.py) for the
# second half. The switch is by iteration (end / begin); tools/train_uda.py
# --max-iters does not move it. Sized for 2 CPU cores like the global step:
# the per-pixel discriminator is 16 wide (the paper-scale config: 64), a
# ninth of the cost at the input resolution.
_base_ = ['./fcn_tiny_demo-adversarial.py']
switch = 200
model = dict(methods=[
    dict(type='OutputAdversarial', weight=0.001, base_channels=16,
         end=switch),
    dict(type='LocalAdversarial', weight=0.001, hidden=16, begin=switch),
])
optim_wrapper = dict(local_discriminator={{_base_.disc_optim}})
