"""Model parts: KPN identity init, PatchGAN, frozen mmseg encoder."""
import pytest
import torch

from dakpn_aug import functional as DF
from dakpn_aug.errors import DAKPNCheckpointError
from dakpn_aug.models import (KernelPredictionNet, PatchDiscriminator,
                              SemanticEncoder)
from conftest import scene_image


def test_kpn_initialises_to_exact_identity_with_noise_on():
    kpn = KernelPredictionNet(19)
    kpn.init_weights()
    logits = torch.randn(2, 19, 12, 20) * 10
    params = kpn(logits)
    assert params.shape == (2, 12, 12, 20)
    expected = DF.identity_params(2, (12, 20))
    assert torch.equal(params, expected)
    img = torch.cat([scene_image(90, 160, seed=s) for s in range(2)])
    noise = DF.make_noise((2, 3, 90, 160), seed=0)
    assert (DF.translate(img, params, noise) - img).abs().max() < 1e-6


def test_kpn_parameter_ranges():
    kpn = KernelPredictionNet(5, sigma_max=4.0, noise_max=0.5)
    torch.nn.init.normal_(kpn.conv.weight, std=10.0)
    p = kpn(torch.randn(3, 5, 16, 16))
    w, b, sigma, n = DF.split_params(p)
    assert w.min() >= 0 and w.max() <= kpn.w_max
    assert b.abs().max() <= kpn.b_max
    assert sigma.min() >= 0 and sigma.max() <= 4.0
    assert n.min() >= 0 and n.max() <= 0.5
    # The random weights really exercise both bounds.
    assert (sigma == 0).any() and (sigma == 4.0).any()


def test_kpn_gradients_reach_every_parameter_group_at_init():
    # Blur and noise start at their lower bound (0); they must still learn.
    kpn = KernelPredictionNet(4)
    img = scene_image(32, 48)
    logits = torch.randn(1, 4, 8, 12)
    noise = DF.make_noise((1, 3, 32, 48), seed=0)
    out = DF.translate(img, kpn(logits), noise)
    # Brighter, blurred and noisier than the input: every group must move.
    target = DF.local_gaussian_blur(img, torch.ones(1, 1, 32, 48)) + 0.1 + \
        0.1 * noise
    ((out - target)**2).mean().backward()
    grad = kpn.conv.bias.grad
    assert grad is not None
    for name, ch in (('w', slice(0, 3)), ('b', slice(3, 6)),
                     ('sigma', slice(6, 9)), ('n', slice(9, 12))):
        assert grad[ch].abs().sum() > 0, name
    assert (grad[6:9] < 0).all() and (grad[9:12] < 0).all()


def test_bounded_clamp_gradient_leads_back_into_range():
    from dakpn_aug.models.kpn import bounded
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
    y = bounded(x, 0.0, 1.0)
    assert torch.equal(y.detach(), torch.tensor([0.0, 0.0, 0.5, 1.0]))
    y.backward(torch.tensor([-1.0, 1.0, 1.0, -1.0]))  # loss wants: up,down,..
    # below range: wants up -> passes; at bound: passes; above range:
    # grad -1 would push further up -> blocked.
    assert torch.equal(x.grad, torch.tensor([-1.0, 1.0, 1.0, 0.0]))
    x.grad = None
    bounded(x, 0.0, 1.0).backward(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0]))


def test_kpn_rejects_wrong_channels_and_options():
    kpn = KernelPredictionNet(19)
    with pytest.raises(ValueError, match='19'):
        kpn(torch.randn(1, 18, 8, 8))
    with pytest.raises(ValueError, match='input_transform'):
        KernelPredictionNet(19, input_transform='relu')
    with pytest.raises(ValueError, match='odd'):
        KernelPredictionNet(19, kernel_size=2)


def test_kpn_softmax_input_is_scale_free():
    kpn = KernelPredictionNet(6, input_transform='softmax')
    torch.nn.init.normal_(kpn.conv.weight, std=0.1)
    x = torch.randn(1, 6, 8, 8)
    torch.testing.assert_close(kpn(x), kpn(x + 5.0))  # softmax shift-invariant


def test_patch_discriminator_is_3_layer_64_feature_patchgan():
    d = PatchDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].out_channels == 64
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    out = d(torch.rand(2, 3, 90, 160))
    assert out.shape == (2, 1, 9, 18)
    assert d(torch.rand(1, 3, 96, 160)).shape[1] == 1
    with pytest.raises(ValueError, match='at least'):
        d(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match='3'):
        d(torch.rand(1, 4, 90, 160))


def test_patch_discriminator_learns_something():
    torch.manual_seed(0)
    d = PatchDiscriminator(base_channels=8, norm='instance')
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    bright, dark = torch.rand(4, 3, 32, 32) * 0.3 + 0.7, torch.rand(
        4, 3, 32, 32) * 0.3
    bce = torch.nn.BCEWithLogitsLoss()
    for _ in range(30):
        opt.zero_grad()
        pb, pd = d(bright), d(dark)
        loss = bce(pb, torch.ones_like(pb)) + bce(pd, torch.zeros_like(pd))
        loss.backward()
        opt.step()
    assert d(bright).mean() > d(dark).mean()


@pytest.fixture(scope='module')
def tiny_encoder():
    torch.manual_seed(0)
    return SemanticEncoder('fcn_tiny')


def test_encoder_outputs_low_res_logits_for_any_input_size(tiny_encoder):
    for size in ((720, 1280), (101, 77), (96, 160)):
        out = tiny_encoder(torch.rand(2, 3, *size))
        assert out.shape == (2, 19, 96, 160)
    assert tiny_encoder.num_classes == 19


def test_encoder_is_frozen_and_stays_in_eval(tiny_encoder):
    tiny_encoder.train()
    assert not tiny_encoder.segmentor.training
    assert not any(p.requires_grad for p in tiny_encoder.parameters())
    x = torch.rand(2, 3, 96, 160)
    a = tiny_encoder(x)
    b = tiny_encoder(x)
    assert torch.equal(a, b)  # eval BN: deterministic, batch-independent
    assert torch.allclose(tiny_encoder(x[:1]), a[:1], atol=1e-5)


def test_encoder_loads_mmseg_checkpoint(tmp_path, tiny_encoder):
    ckpt = tmp_path / 'encoder.pth'
    torch.save({'state_dict': tiny_encoder.segmentor.state_dict(),
                'meta': {'note': 'weights only'}}, ckpt)
    torch.manual_seed(1)
    other = SemanticEncoder('fcn_tiny')
    x = torch.rand(1, 3, 96, 160)
    assert not torch.allclose(other(x), tiny_encoder(x))
    other.load_segmentor_weights(str(ckpt))
    torch.testing.assert_close(other(x), tiny_encoder(x))


def test_encoder_rejects_mismatched_or_missing_checkpoint(tmp_path):
    with pytest.raises(DAKPNCheckpointError, match='does not exist'):
        SemanticEncoder('fcn_tiny', checkpoint=str(tmp_path / 'nope.pth'))
    bad = tmp_path / 'other.pth'
    torch.save({'state_dict': {'foo.weight': torch.zeros(3)}}, bad)
    with pytest.raises(DAKPNCheckpointError, match='missing'):
        SemanticEncoder('fcn_tiny', checkpoint=str(bad))


def test_encoder_config_presets_and_errors():
    from dakpn_aug.models import load_encoder_config
    cfg = load_encoder_config('fcn_r50-d8')
    assert cfg['backbone']['depth'] == 50
    assert cfg['backbone']['norm_cfg']['type'] == 'BN'
    assert cfg['pretrained'] is None  # never downloads
    with pytest.raises(FileNotFoundError, match='presets'):
        load_encoder_config('does-not-exist')


def test_parts_build_from_mmseg_registry():
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    kpn = MODELS.build(dict(type='KernelPredictionNet', num_classes=7))
    assert isinstance(kpn, KernelPredictionNet) and kpn.num_classes == 7
    d = MODELS.build(dict(type='PatchDiscriminator', base_channels=16))
    assert isinstance(d, PatchDiscriminator)
    enc = MODELS.build(ConfigDict(type='SemanticEncoder',
                                  segmentor='fcn_tiny',
                                  input_size=(48, 80)))
    assert enc(torch.rand(1, 3, 100, 100)).shape == (1, 19, 48, 80)


def test_blas_convs_run_only_small_batches_of_long_reductions(monkeypatch):
    """The BLAS routes of the encoder's convolutions: only plain
    convolutions with a reduction >= BLAS_CONV_MIN_REDUCTION are routed,
    only calls of <= BLAS_CONV_MAX_PIXELS output pixels in float32 on a
    listed CPU take a route (Winograd for a 3x3 with padding 1 unless its
    weight needs a gradient, im2col + BLAS otherwise), and every route
    gives oneDNN's results, also after the weights change."""
    import pickle

    from torch import nn
    from torch.profiler import profile

    from dakpn_aug.models import encoder as E
    monkeypatch.setattr(E, 'BLAS_CONV_CPUS',
                        (torch.backends.cpu.get_cpu_capability(),))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1024, 16, 3, padding=1),  # 9216 inputs
                          nn.Conv2d(16, 16, 3, padding=1),  # 144
                          nn.Conv2d(16, 1024, 3, padding=2, dilation=2),
                          nn.Conv2d(8192, 8, 1))  # 8192 inputs, not 3x3
    reference = nn.Conv2d(1024, 16, 3, padding=1)
    reference.load_state_dict(model[0].state_dict())
    assert E.use_blas_convs(model) == 2
    assert [type(m) for m in model] == [E.BlasConv2d, nn.Conv2d, nn.Conv2d,
                                        E.BlasConv2d]
    assert model[0].state_dict().keys() == reference.state_dict().keys()

    def route(conv, x, grad=False, bfloat16=False):
        with torch.set_grad_enabled(grad), profile() as prof, \
                torch.autocast('cpu', dtype=torch.bfloat16,
                               enabled=bfloat16):
            out = conv(x)
        ops = {e.key for e in prof.key_averages()}
        assert 'aten::conv2d' in ops or 'aten::thnn_conv2d' in ops or \
            'aten::bmm' in ops
        return out.detach(), ('oneDNN' if 'aten::conv2d' in ops else
                              'im2col' if 'aten::thnn_conv2d' in ops else
                              'Winograd')

    one, two = torch.randn(1, 1024, 12, 20), torch.randn(2, 1024, 12, 20)
    out, used = route(model[0], one)
    assert used == 'Winograd'  # 240 output pixels, 3x3, padding 1
    torch.testing.assert_close(out, reference(one).detach(),
                               rtol=1e-5, atol=1e-5)
    out, used = route(model[0], one, grad=True)  # the weight needs a grad
    assert used == 'im2col'
    torch.testing.assert_close(out, reference(one).detach(),
                               rtol=1e-5, atol=1e-5)
    out, used = route(model[0], two)
    assert used == 'oneDNN'  # 480 output pixels
    assert torch.equal(out, reference(two).detach())
    assert route(model[0], one, bfloat16=True)[1] == 'oneDNN'
    wide = torch.randn(1, 8192, 12, 20)
    out, used = route(model[3], wide)
    assert used == 'im2col'  # a 1x1
    torch.testing.assert_close(
        out, nn.functional.conv2d(wide, model[3].weight, model[3].bias),
        rtol=1e-5, atol=1e-5)
    # A pickle leaves the kept kernels behind and makes them anew.
    copied = pickle.loads(pickle.dumps(model[0]))
    assert hasattr(model[0], '_winograd_cache')
    assert not hasattr(copied, '_winograd_cache')
    assert torch.equal(route(copied, one)[0], route(model[0], one)[0])
    # New weights: the Winograd route's kept kernels are made anew.
    with torch.no_grad():
        reference.weight.mul_(-2.0)
    model[0].load_state_dict(reference.state_dict())
    torch.testing.assert_close(route(model[0], one)[0],
                               reference(one).detach(), rtol=1e-5,
                               atol=1e-5)
    monkeypatch.setattr(E, 'BLAS_CONV_CPUS', ())
    assert route(model[0], one)[1] == 'oneDNN'  # an unlisted CPU


@pytest.mark.parametrize('shape', [(1, 64, 12, 20), (2, 16, 11, 19),
                                   (1, 8, 1, 1), (3, 5, 2, 7)])
def test_winograd_conv3x3_is_the_3x3_convolution(shape):
    """F(2x2, 3x3) against float64's direct convolution (padding 1, with
    and without a bias; odd sizes are cropped tiles), and its errors."""
    from dakpn_aug.models.winograd import winograd_conv3x3, winograd_weight
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    weight = torch.randn(24, shape[1], 3, 3, generator=g)
    bias = torch.randn(24, generator=g)
    u = winograd_weight(weight)
    assert u.shape == (16, shape[1], 24) and u.dtype == torch.float32
    for b in (None, bias):
        out = winograd_conv3x3(x, u, b)
        ref = torch.nn.functional.conv2d(
            x.double(), weight.double(), None if b is None else b.double(),
            padding=1)
        assert out.shape == ref.shape and out.is_contiguous()
        assert float((out - ref).abs().max() / ref.abs().max()) < 2e-6
    with pytest.raises(ValueError, match='3x3 kernels'):
        winograd_weight(torch.randn(4, 2, 1, 1))
    with pytest.raises(ValueError, match='input channels'):
        winograd_conv3x3(torch.randn(1, shape[1] + 1, 4, 4), u)
