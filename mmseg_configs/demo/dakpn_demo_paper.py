# The paper's DA-KPN recipe on the demo data, for comparison (ablation row):
# HSV colour affine, clamped-normal noise field fixed per image size, GAN
# and identity terms only (low-res GAN term at 0.25, as the demo needed for
# stable training before the statistics loss), the 25x25 support's full
# sigma range. Everything else as mmseg_configs/demo/dakpn_demo.py.
_base_ = ['./dakpn_demo.py']

model = dict(
    kpn=dict(color_space='hsv', sigma_max=6.0, noise_max=1.0),
    loss_weights=dict(gan_patch=1.0, gan_lowres=0.25, identity=1.0,
                      stats_colour=0.0, stats_texture=0.0,
                      stats_noise=0.0),
    stats_loss=None,
    noise=dict(mode='fixed', seed=0, distribution='clamped'))
