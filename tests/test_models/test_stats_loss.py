"""Class-conditional statistics matching (the colour/texture training
signal beside the GAN terms)."""
import pytest
import torch
import torch.nn.functional as F

from dakpn_aug import functional as DF
from dakpn_aug.models.stats_loss import (ClassStatsLoss, class_map_for_box,
                                         class_moments, noise_features,
                                         texture_features)


def test_class_moments_known_values():
    values = torch.tensor([1., 2., 3., 10.]).view(1, 1, 2, 2)
    labels = torch.tensor([[0, 0], [1, -1]])  # -1: ignored
    mean, std, count = class_moments(values, labels, num_classes=3)
    assert count.tolist() == [2, 1, 0, 4]  # last row: every pixel
    assert mean[0].item() == pytest.approx(1.5)
    assert std[0].item() == pytest.approx(0.5, abs=1e-3)
    assert mean[1].item() == pytest.approx(3.0)
    assert mean[3].item() == pytest.approx(4.0)


def test_class_map_for_box_matches_nearest_upsampling():
    low = torch.randint(0, 5, (2, 6, 10))
    full = torch.tensor([[24, 40], [24, 40]])
    ref = F.interpolate(low[:, None].float(), size=(24, 40),
                        mode='nearest')[:, 0].long()
    box = torch.tensor([[3, 5, 8, 12], [10, 20, 8, 12]])
    out = class_map_for_box(low, full, box)
    assert torch.equal(out[0], ref[0, 3:11, 5:17])
    assert torch.equal(out[1], ref[1, 10:18, 20:32])
    # A box reaching past the border replicates the edge labels.
    out = class_map_for_box(low, full, torch.tensor([[-2, -2, 4, 4]] * 2))
    assert torch.equal(out[0, 0, 0], ref[0, 0, 0])
    assert torch.equal(out[0, :2, 2:], ref[0, :2, :2])


def test_texture_features_see_blur_and_noise():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 64, 64, generator=g)
    fine, coarse = texture_features(img)
    blurred = DF.local_gaussian_blur(img, torch.full((1, 1, 64, 64), 2.0))
    bf, bc = texture_features(blurred)
    assert bf.mean() < 0.3 * fine.mean() and bc.mean() < coarse.mean()
    flat = torch.full((1, 3, 64, 64), 0.5)
    noisy = flat + 0.05 * torch.randn(1, 3, 64, 64, generator=g)
    nf, nc = texture_features(noisy)
    # Noise is strong at full resolution, averaged down at half.
    assert nf.mean() > 1.5 * nc.mean()


def _batch(colour, n=2, h=24, w=40):
    img = torch.tensor(colour).view(1, 3, 1, 1).expand(n, 3, h, w).clone()
    labels = torch.zeros(n, h, w, dtype=torch.long)
    labels[:, :, w // 2:] = 1
    img[:, :, :, w // 2:] = 0.5  # class 1 is grey everywhere
    return img, labels


def test_stats_loss_is_zero_on_real_statistics_and_drives_colour():
    loss = ClassStatsLoss(num_classes=2, momentum=0.5)
    real, labels = _batch([0.4, 0.5, 0.4])
    loss.update_real(real, labels, real, labels)
    assert loss.real_seen.all()
    assert loss.colour_loss(real, labels).item() == pytest.approx(0, abs=1e-4)
    assert loss.texture_loss(real, labels).item() == pytest.approx(0,
                                                                   abs=1e-4)
    # A per-class YCbCr affine learns the real colour from the loss alone.
    src, _ = _batch([0.9, 0.2, 0.1])
    w = torch.ones(1, 3, 1, 1, requires_grad=True)
    b = torch.zeros(1, 3, 1, 1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.02)
    first = None
    for _ in range(200):
        out = DF.color_affine(src, w, b, 'ycbcr')
        value = loss.colour_loss(out, labels)
        first = value.item() if first is None else first
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < 0.2 * first
    # The running average moves towards new real batches.
    other, _ = _batch([0.2, 0.2, 0.6])
    before = loss.real_colour_mean[0].clone()
    loss.update_real(other, labels)
    after = loss.real_colour_mean[0]
    target = DF.rgb_to_ycbcr(other[:1, :, :1, :1]).flatten()
    assert torch.allclose(after, 0.5 * before + 0.5 * target, atol=1e-5)


def test_classes_unseen_in_real_images_do_not_count():
    loss = ClassStatsLoss(num_classes=3, min_pixels=4)
    real, labels = _batch([0.4, 0.5, 0.4])
    loss.update_real(real, labels)
    fake_labels = torch.full_like(labels, 2)  # a class never seen in real
    fake_labels[0, 0, 0] = 0  # and too few pixels of a seen one
    value = loss.colour_loss(real, fake_labels)
    # Only the whole-image row counts, and it matches exactly.
    assert value.item() == pytest.approx(0, abs=1e-4)
    with pytest.raises(ValueError, match='momentum'):
        ClassStatsLoss(3, momentum=1.0)


def test_noise_features_estimate_noise_and_ignore_edges():
    """Immerkaer's estimate: the std of white noise on flat and sloped
    regions, ~0 on a noiseless image with a straight edge; class
    boundaries (any orientation) are left out."""
    g = torch.Generator().manual_seed(0)
    h, w = 64, 80
    ramp = torch.linspace(0.2, 0.6, w).view(1, 1, 1, w).expand(1, 3, h, w)
    img = ramp.clone()
    img[..., :, w // 2:] += 0.3  # a straight vertical edge
    labels = torch.zeros(1, h, w, dtype=torch.long)
    labels[:, :, w // 2:] = 1
    clean, inner = noise_features(img, labels)
    assert clean.shape == (1, 1, h - 2, w - 2) and inner.shape == (1, h - 2,
                                                                   w - 2)
    assert clean[..., 5:-5, 5:w // 2 - 5].max() < 1e-5  # a plane: ~0
    # Pixels touching the class boundary are out; the rest keep their class.
    assert (inner[0, :, w // 2 - 2:w // 2] == -1).all()
    assert (inner[0, :, :w // 2 - 2] == 0).all()
    assert (inner[0, :, w // 2:] == 1).all()
    for std in (0.005, 0.03):  # grey noise: Y sees all of it
        noisy = img + std * torch.randn(1, 1, h, w, generator=g)
        est, inner = noise_features(noisy, labels)
        mean, _, _ = class_moments(est, inner, 2)
        assert mean[0, 0].item() == pytest.approx(std, rel=0.1)
        assert mean[1, 0].item() == pytest.approx(std, rel=0.1)


def test_noise_loss_pulls_the_noise_scale_to_the_real_one():
    """With noise=True the real noise is averaged per class and the loss
    is smallest, and its gradient points, at the real noise level."""
    g = torch.Generator().manual_seed(1)
    loss = ClassStatsLoss(num_classes=2, momentum=0.0, noise=True)
    flat, labels = _batch([0.4, 0.5, 0.4], h=48, w=64)
    field = torch.randn(flat.shape[0], 1, 48, 64, generator=g)
    loss.update_real(flat, labels, flat + 0.02 * field, labels)
    assert loss.real_noise_seen.all()
    assert loss.real_noise[-1].item() == pytest.approx(0.02, rel=0.1)
    values = {}
    for scale in (0.005, 0.02, 0.08):
        values[scale] = loss.noise_loss(flat + scale * field, labels).item()
    assert values[0.02] < 0.05 < values[0.005] and values[0.02] < values[0.08]
    scale = torch.tensor(0.005, requires_grad=True)
    loss.noise_loss(flat + scale * field, labels).backward()
    assert scale.grad < 0  # raise the noise towards the real level
    with pytest.raises(RuntimeError, match='noise'):
        ClassStatsLoss(num_classes=2).noise_loss(flat, labels)
