# Global then local adversarial alignment, GTA5 -> Cityscapes: the
# AdaptSegNet settings of deeplabv3_r101-d8_gta2cityscapes-1280x720_
# adversarial.py for step one, then local pixel-level alignment with the
# mixture module (dakpn_aug/uda/methods/local_adversarial.py) for step two.
# The source names no switch point: here after 100k of the 150k iterations
# (step two fine-tunes an already globally aligned model, as the poster's
# "on top of AdaptSegNet / ADVENT / BDL" results suggest).
_base_ = ['./deeplabv3_r101-d8_gta2cityscapes-1280x720_adversarial.py']
switch = 100000
model = dict(methods=[
    dict(type='OutputAdversarial', weight=0.001, aux_weight=0.0002,
         base_channels=64, gan='bce', end=switch),
    dict(type='LocalAdversarial', weight=0.001, hidden=64, begin=switch),
])
optim_wrapper = dict(local_discriminator={{_base_.disc_optim}})
