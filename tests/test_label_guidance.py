"""Label guidance: pixels whose known class the encoder did not see there
take the image's mean colour affine; blur, noise, labels and geometry are
untouched, and every front door passes the source labels (never target
labels)."""
import numpy as np
import pytest
import torch

import dakpn_aug.functional as DF
from dakpn_aug import DAKPNInputError, DAKPNTranslator

from conftest import scene_image
from test_functional import random_params


def _mean_colour_reference(img, params, mask, noise):
    """The definition: full-resolution parameters whose colour channels
    are the image's mean where ``mask``."""
    full = DF.upsample_params(params, img.shape[-2:])
    mean = params[:, :6].mean((2, 3), keepdim=True).expand_as(full[:, :6])
    colour = torch.where(mask, mean, full[:, :6])
    return DF.translate(img, torch.cat((colour, full[:, 6:]), 1),
                        noise=noise)


def test_mean_colour_mask_is_the_definition_on_every_path(monkeypatch):
    monkeypatch.setattr(DF, '_TRANSLATE_TILE', (20, 13))
    img = torch.cat([scene_image(45, 50, seed=s) for s in (1, 2)])
    params = random_params(2, 6, 7, sigma_max=3.0, seed=3)
    noise = DF.make_noise((2, 3, 45, 50), seed=4)
    mask = torch.zeros(2, 1, 45, 50, dtype=torch.bool)
    mask[0, :, 10:14, 20:22] = True  # a "pole"
    mask[1, :, 30:, :] = True
    ref = _mean_colour_reference(img, params, mask, noise)
    whole = DF.translate(img, params, noise=noise, mean_colour=mask)
    monkeypatch.setattr(DF, '_WHOLE_IMAGE_MAX_BYTES', 0)  # the tiles
    tiled = DF.translate(img, params, noise=noise, mean_colour=mask)
    for out in (whole, tiled):
        torch.testing.assert_close(out, ref, atol=2e-5, rtol=0)
    # An empty mask is no mask; the mask changes the translation.
    plain = DF.translate(img, params, noise=noise)
    none = DF.translate(img, params, noise=noise,
                        mean_colour=torch.zeros_like(mask))
    assert torch.equal(none, plain)
    assert (tiled - plain).abs().max() > 0.01
    # Gradients flow through the mean (training may use it).
    p = params.clone().requires_grad_()
    DF.translate(img, p, mean_colour=mask).sum().backward()
    assert p.grad.abs().sum() > 0


def test_mean_colour_with_shared_or_full_size_parameters():
    """Without autograd the mean colour is written into the parameter maps
    in place: one map shared by a batch with a mask per image must give
    each image its own, and full-size parameters must come back
    untouched."""
    img = torch.cat([scene_image(40, 48, seed=s) for s in (5, 6)])
    noise = DF.make_noise((2, 3, 40, 48), seed=7)
    mask = torch.zeros(2, 1, 40, 48, dtype=torch.bool)
    mask[0, :, 5:9, :] = True
    mask[1, :, :, 30:33] = True
    shared = random_params(1, 6, 7, sigma_max=3.0, seed=8)
    ref = _mean_colour_reference(img, shared.expand(2, -1, -1, -1), mask,
                                 noise)
    with torch.inference_mode():
        out = DF.translate(img, shared, noise=noise, mean_colour=mask)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=0)
    full = DF.upsample_params(shared, (40, 48)).expand(2, -1, -1, -1)
    full = full.contiguous(memory_format=torch.channels_last)
    before = full.clone()
    out = DF.translate(img, full, noise=noise, mean_colour=mask)
    assert torch.equal(full, before)
    torch.testing.assert_close(  # the mean is the full-size map's here
        out, _mean_colour_reference(img, full, mask, noise), atol=2e-5,
        rtol=0)


def test_mean_colour_mask_is_checked():
    img = torch.rand(1, 3, 8, 9)
    params = DF.identity_params(1, (2, 3))
    for bad in (torch.zeros(1, 1, 8, 9), torch.zeros(1, 8, 9,
                                                     dtype=torch.bool),
                torch.zeros(1, 1, 8, 8, dtype=torch.bool)):
        with pytest.raises(ValueError, match='mean_colour'):
            DF.translate(img, params, mean_colour=bad)


def test_label_guidance_mask_marks_known_disagreeing_pixels():
    logits = torch.zeros(1, 4, 2, 2)
    logits[0, 1] = 5.0  # the encoder sees class 1 everywhere
    labels = torch.tensor([[[1, 1, 2, 2], [1, 255, 3, 1],
                            [0, 1, 1, 1], [1, 1, 7, -1]]])
    mask = DF.label_guidance_mask(labels, logits)
    expected = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 0],
                              [1, 0, 0, 0], [0, 0, 0, 0]]], dtype=torch.bool)
    assert torch.equal(mask, expected[:, None])
    with pytest.raises(ValueError, match='labels'):
        DF.label_guidance_mask(labels[0], logits)


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int32, torch.int64])
@pytest.mark.parametrize('sizes', [((7, 11), (50, 37)), ((12, 20), (13, 21)),
                                   ((24, 40), (96, 160))])
def test_label_guidance_mask_is_nearest_exact_upsampling(dtype, sizes):
    """The mask's gathers equal F.interpolate's 'nearest-exact' of the
    argmax at any scale, for label maps of any integer dtype (uint8 PNGs:
    no copy)."""
    (h, w), (height, width) = sizes
    g = torch.Generator().manual_seed(0)
    # Rounded: many tied maxima, where the encoder's class is the first.
    logits = torch.randn(2, 19, h, w, generator=g).round()
    labels = torch.randint(0, 25, (2, height, width), generator=g).to(dtype)
    if dtype != torch.uint8:
        labels[0, :2] = -1  # unknown
    seen = torch.nn.functional.interpolate(
        logits.argmax(1, keepdim=True).float(), size=(height, width),
        mode='nearest-exact').long()
    wide = labels[:, None].long()
    expected = (wide >= 0) & (wide < 19) & (wide != seen)
    assert torch.equal(DF.label_guidance_mask(labels, logits), expected)


@pytest.fixture(scope='module')
def translator():
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny', noise='none')
    with torch.no_grad():  # a trained-looking KPN: class-dependent colour
        torch.nn.init.normal_(tr.kpn.conv.weight, std=0.05)
        tr.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.1, 0, 0, .02, .8, .8, .8, 0, 0, 0]))
    return tr


def test_translator_uses_labels_only_where_the_encoder_disagrees(translator):
    img = scene_image(96, 160, seed=5)
    with torch.no_grad():
        logits = translator.encoder(img)
    seen = torch.nn.functional.interpolate(
        logits.argmax(1, keepdim=True).float(), size=(96, 160),
        mode='nearest-exact')[:, 0].long()
    plain = translator.translate_batch(img)
    # Labels that agree with the encoder everywhere, or unknown: unchanged.
    assert torch.equal(translator.translate_batch(img, labels=seen), plain)
    assert torch.equal(translator.translate_batch(
        img, labels=torch.full_like(seen, 255)), plain)
    # A thin "pole" of another class: only it and its blur margin change.
    labels = seen.clone()
    labels[0, 20:60, 80:82] = (seen[0, 40, 81] + 1) % 19
    out = translator.translate_batch(img, labels=labels)
    diff = (out - plain).abs().amax(1)[0]
    assert diff[20:60, 80:82].min() > 0
    margin = DF.BLUR_MARGIN
    outside = torch.ones_like(diff, dtype=torch.bool)
    outside[max(0, 20 - margin):60 + margin, 80 - margin:82 + margin] = False
    assert diff[outside].max() == 0
    # Switched off: labels are ignored.
    translator.label_guidance = False
    try:
        assert torch.equal(translator.translate_batch(img, labels=labels),
                           plain)
    finally:
        translator.label_guidance = True
    # numpy front: HxW labels beside an HxWx3 image.
    rgb = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    a = translator(rgb, labels=labels[0].numpy())
    b = translator(rgb)
    assert a.shape == rgb.shape and not np.array_equal(a, b)
    # Flipped views (negative strides) work as their copies do.
    lab = labels[0].numpy()
    view = translator(rgb[:, ::-1], labels=lab[:, ::-1])
    copy = translator(np.ascontiguousarray(rgb[:, ::-1]),
                      labels=np.ascontiguousarray(lab[:, ::-1]))
    assert np.array_equal(view, copy)


def test_translator_rejects_bad_label_maps(translator):
    img = torch.rand(2, 3, 32, 48)
    for bad, match in ((torch.zeros(2, 32, 40, dtype=torch.long), 'like'),
                       (torch.zeros(3, 32, 48, dtype=torch.long), 'like'),
                       (torch.zeros(2, 32, 48), 'integers')):
        with pytest.raises(DAKPNInputError, match=match):
            translator.translate_batch(img, labels=bad)


def test_labels_of_another_id_space_warn_once(translator):
    img = scene_image(96, 160, seed=6)
    with torch.no_grad():
        seen = translator.encoder(img).argmax(1)
    foreign = torch.nn.functional.interpolate(
        seen[:, None].float(), size=(96, 160))[:, 0].long()
    foreign = (foreign + 7) % 19  # like label ids read as train ids
    translator.__dict__.pop('_labels_checked', None)
    with pytest.warns(UserWarning, match='train ids'):
        translator.translate_batch(img, labels=foreign)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        translator.translate_batch(img, labels=foreign)  # first call only
