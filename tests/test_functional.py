"""Per-op tests of the translation core (kornia style)."""
import math

import pytest
import torch

from dakpn_aug import functional as DF
from dakpn_aug import cpu_exec, layers
from conftest import scene_image


def random_params(b, h, w, sigma_max=3.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    p = DF.identity_params(b, (h, w), dtype=dtype)
    p[:, 0:3] += 0.2 * (torch.rand(b, 3, h, w, generator=g) - 0.5)
    p[:, 3:6] += 0.1 * (torch.rand(b, 3, h, w, generator=g) - 0.5)
    p[:, 6:9] = sigma_max * torch.rand(b, 3, h, w, generator=g)
    p[:, 9:12] = 0.1 * torch.rand(b, 3, h, w, generator=g)
    return p


# ------------------------------------------------------------------- HSV

def colours_with_edge_cases():
    g = torch.Generator().manual_seed(1)
    rnd = torch.rand(3, 2000, generator=g)
    greys = torch.linspace(0, 1, 21).repeat(3, 1)
    # Sextant boundaries: pure and secondary colours, ties between channels.
    corners = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1],
                            [0, 0, 1], [1, 0, 1], [0.5, 0.5, 0.2],
                            [0.2, 0.5, 0.5], [0.5, 0.2, 0.5], [1, 1, 1],
                            [0, 0, 0]], dtype=torch.float32).T
    allc = torch.cat([rnd, greys, corners, corners * 0.37], dim=1)
    return allc.view(1, 3, 1, -1)


def test_hsv_round_trip_includes_greys_and_sextant_boundaries():
    rgb = colours_with_edge_cases()
    back = DF.hsv_to_rgb(DF.rgb_to_hsv(rgb))
    assert (back - rgb).abs().max() < 1e-5


def test_hsv_known_values_and_ranges():
    rgb = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [.5, .5, .5]]).T
    hsv = DF.rgb_to_hsv(rgb.view(1, 3, 1, 4)).view(3, 4)
    torch.testing.assert_close(hsv[0], torch.tensor([0, 1 / 3, 2 / 3, 0]))
    torch.testing.assert_close(hsv[1], torch.tensor([1., 1, 1, 0]))
    torch.testing.assert_close(hsv[2], torch.tensor([1., 1, 1, .5]))
    hsv = DF.rgb_to_hsv(colours_with_edge_cases())
    assert hsv.min() >= 0 and hsv.max() <= 1 and (hsv[:, 0] < 1).all()


def test_hue_wraps_and_sv_are_clamped():
    hsv = DF.rgb_to_hsv(colours_with_edge_cases())
    base = DF.hsv_to_rgb(hsv)
    for shift in (1.0, -1.0, 3.0):
        shifted = hsv.clone()
        shifted[:, 0] += shift
        assert (DF.hsv_to_rgb(shifted) - base).abs().max() < 1e-5
    over = hsv.clone()
    over[:, 1:] = over[:, 1:] * 3 + 0.5  # s, v far above 1
    out = DF.hsv_to_rgb(over)
    assert out.min() >= 0 and out.max() <= 1
    clamped = over.clone()
    clamped[:, 1:] = clamped[:, 1:].clamp(0, 1)
    torch.testing.assert_close(out, DF.hsv_to_rgb(clamped))


def test_hsv_to_rgb_not_black_on_sextant_boundaries():
    # The authors' version turned these hues black.
    h = torch.tensor([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0, -0.5, 1.5])
    hsv = torch.stack([h, torch.ones_like(h), torch.ones_like(h)])
    rgb = DF.hsv_to_rgb(hsv.view(1, 3, 1, -1))
    assert (rgb.amax(dim=1) > 0.99).all()


def test_hsv_gradcheck():
    g = torch.Generator().manual_seed(0)
    rgb = (0.1 + 0.8 * torch.rand(1, 3, 4, 5, generator=g,
                                  dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(DF.rgb_to_hsv, (rgb, ))
    hsv = (0.05 + 0.9 * torch.rand(1, 3, 4, 5, generator=g,
                                   dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(DF.hsv_to_rgb, (hsv, ))


def test_hsv_module_equals_function():
    rgb = colours_with_edge_cases()
    assert torch.equal(layers.RgbToHsv()(rgb), DF.rgb_to_hsv(rgb))
    hsv = DF.rgb_to_hsv(rgb)
    assert torch.equal(layers.HsvToRgb()(hsv), DF.hsv_to_rgb(hsv))


# ------------------------------------------------------------------ blur

def test_kernel_is_normalised_and_zero_sigma_is_impulse():
    k = DF.gaussian_kernel1d(torch.tensor([0.0, 0.3, 1.0, 6.0]))
    torch.testing.assert_close(k.sum(-1), torch.ones(4))
    assert k[0, 12] == 1 and k[0].sum() == 1
    assert k.shape == (4, 25)


@pytest.mark.parametrize('mode', ['fast', 'exact'])
def test_blur_sigma_zero_is_exactly_identity(mode):
    img = scene_image(40, 60)
    out = DF.local_gaussian_blur(img, torch.zeros(1, 1, 40, 60), mode=mode)
    assert torch.equal(out, img)


@pytest.mark.parametrize('mode', ['fast', 'exact'])
def test_blur_keeps_constant_image_everywhere(mode):
    # Normalised kernel + replicate border: no darkening at borders (the
    # authors' patch grid left black borders and seams).
    img = torch.full((1, 3, 37, 53), 0.6)
    sigma = DF.SIGMA_MAX * torch.rand(1, 3, 37, 53)
    out = DF.local_gaussian_blur(img, sigma, mode=mode)
    torch.testing.assert_close(out, img, atol=2e-6, rtol=0)


def test_exact_blur_matches_definition_at_a_border_pixel():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 1, 30, 30, generator=g, dtype=torch.float64)
    sigma = torch.full((1, 1, 30, 30), 2.0, dtype=torch.float64)
    out = DF.local_gaussian_blur(img, sigma, mode='exact')
    # Pixel (0, 0) by hand: replicate padding clamps coordinates.
    r = 12
    acc, norm = 0.0, 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            wgt = math.exp(-(dx * dx + dy * dy) / 8.0)
            acc += wgt * float(img[0, 0, max(0, dy), max(0, dx)])
            norm += wgt
    assert abs(float(out[0, 0, 0, 0]) - acc / norm) < 1e-12


@pytest.mark.parametrize('sigma', [0.1, 0.2, 0.3, 0.42, 0.58, 0.75, 1.0, 1.3,
                                   1.9, 2.6, 3.3, 4.5, 5.5, 6.0])
def test_fast_blur_matches_exact_on_scene(sigma):
    img = scene_image(64, 96, seed=3)
    s = torch.full((1, 3, 64, 96), sigma)
    err = (DF.local_gaussian_blur(img, s) -
           DF.local_gaussian_blur(img, s, mode='exact')).abs()
    assert err.mean() <= 1e-3
    assert err.max() <= 0.03


def test_fast_blur_matches_exact_with_varying_sigma():
    g = torch.Generator().manual_seed(5)
    img = scene_image(64, 96, seed=4)
    sigma = DF.SIGMA_MAX * torch.rand(1, 3, 64, 96, generator=g)
    err = (DF.local_gaussian_blur(img, sigma) -
           DF.local_gaussian_blur(img, sigma, mode='exact')).abs()
    assert err.mean() <= 1e-3 and err.max() <= 0.03
    # Worst case for a blend of kernels: white noise and a lone pixel.
    noise = torch.rand(1, 3, 64, 96, generator=g)
    err = (DF.local_gaussian_blur(noise, sigma) -
           DF.local_gaussian_blur(noise, sigma, mode='exact')).abs()
    assert err.max() <= 0.03


def test_opencv_path_equals_torch_path():
    """Without autograd on the CPU, the blur's filters, the parameter
    upsampling and the colour matrices run in OpenCV, in bands of rows
    that each blend only the levels they touch; the result equals the
    torch kernels' (the autograd path) for every band layout, batch item
    and sigma range, a band at sigma 0 included, and images wider than a
    tile (cut into columns too)."""
    g = torch.Generator().manual_seed(11)
    threads = torch.get_num_threads()
    rows = DF._BLUR_TILE[0]
    h = 2 * rows + 37  # three bands, the last one partial
    img = torch.cat([scene_image(h, 90, seed=s) for s in (1, 2)])
    sigma = DF.SIGMA_MAX * torch.rand(2, 3, h, 90, generator=g)
    sigma[:, :, :rows] = 0.0  # a band without blur
    sigma[1, :, -40:] = 5.0 + torch.rand(3, 40, 90, generator=g)  # high only
    fast = DF.local_gaussian_blur(img, sigma)
    with torch.enable_grad():
        ref = DF.local_gaussian_blur(img.clone().requires_grad_(), sigma)
    torch.testing.assert_close(fast, ref.detach(), atol=2e-6, rtol=0)
    assert torch.equal(fast[:, :, :rows], img[:, :, :rows])
    params = random_params(2, 12, 20, sigma_max=DF.SIGMA_MAX, seed=3)
    noise = DF.make_noise((2, 3, h, 90), seed=4)
    out = DF.translate(img, params, noise=noise)
    ref = DF.translate(img, params.clone().requires_grad_(), noise=noise)
    torch.testing.assert_close(out, ref.detach(), atol=2e-5, rtol=0)
    # The bands run on a thread pool; autograd modes are per thread, and
    # inference mode (what serving code uses) must reach the pool threads.
    with torch.inference_mode():
        assert torch.equal(DF.translate(img, params, noise=noise), out)
    # Large batches run band by band through the whole translation (no
    # image-sized temporary): the same result.
    limit = DF._WHOLE_IMAGE_MAX_BYTES
    DF._WHOLE_IMAGE_MAX_BYTES = 0
    try:
        banded = DF.translate(img, params, noise=noise)
    finally:
        DF._WHOLE_IMAGE_MAX_BYTES = limit
    torch.testing.assert_close(banded, out, atol=2e-5, rtol=0)
    torch.testing.assert_close(banded, ref.detach(), atol=2e-5, rtol=0)
    torch.set_num_threads(1)  # one thread: the bands run in this thread
    try:
        assert torch.equal(DF.translate(img, params, noise=noise), out)
    finally:
        torch.set_num_threads(threads)


def test_levels_are_blended_only_where_pixels_need_them():
    """Level k matters only where k - 1 < u < k + 1: each level's box
    covers exactly the rows and columns that hold such pixels, levels no
    pixel needs are skipped, and blending on the boxes equals blending
    every level everywhere."""
    u = torch.full((1, 6, 10, 3), 7.25)  # between levels 7 and 8
    u[:, :, :4] = 0.5  # the left columns: between levels 0 and 1
    u[:, 5, 9, 2] = 3.0  # one pixel, one channel, exactly on level 3
    # Column 9 spans 3.0-7.25, so levels 3-6 take it (the boxes come from
    # the ranges of whole rows and columns: they may hold more pixels than
    # need a level, never fewer); level 2 (1 < u < 3) is needed nowhere.
    assert dict(DF._level_boxes(u)) == {
        1: (0, 6, 0, 4), 3: (0, 6, 9, 10), 4: (0, 6, 9, 10),
        5: (0, 6, 9, 10), 6: (0, 6, 9, 10), 7: (0, 6, 4, 10),
        8: (0, 6, 4, 10)}
    smooth = torch.nn.functional.interpolate(
        torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(0)),
        size=(40, 50), mode='bilinear').permute(0, 2, 3, 1) * 15.0
    boxes = dict(DF._level_boxes(smooth))
    for k in range(1, DF.SIGMA_NUM_LEVELS):
        need = ((smooth > k - 1) & (smooth < k + 1)).any(-1)[0]
        if k in boxes:
            r0, r1, c0, c1 = boxes[k]
            need[r0:r1, c0:c1] = False
        assert not need.any(), k
    # The OpenCV path's boxes of every (image, channel) plane at once are
    # each plane's own.
    two = torch.cat([smooth, smooth.flip(1)])
    per_plane = DF._plane_level_boxes(two.permute(0, 3, 1, 2).contiguous())
    assert [[DF._level_boxes(two[i:i + 1, ..., c:c + 1]) for c in range(3)]
            for i in range(2)] == per_plane
    assert per_plane[0] != per_plane[1]
    x = torch.rand(1, 6, 10, 3)
    levels = [x] + [torch.rand_like(x) for _ in DF.SIGMA_LEVELS[1:]]

    def level_on_box(sigma, box):
        r0, r1, c0, c1 = box
        return levels[DF.SIGMA_LEVELS.index(sigma)][:, r0:r1, c0:c1]

    out = torch.empty_like(x)
    DF._blend_levels_into(out, x, u, level_on_box)
    k = u.floor().long().clamp(max=DF.SIGMA_NUM_LEVELS - 2)
    stack = torch.stack(levels)
    lower, upper = (stack.gather(0, (k + d)[None])[0] for d in (0, 1))
    torch.testing.assert_close(out, torch.lerp(lower, upper, u - k),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_level_boxes_of_half_precision_maps(dtype):
    """The GPU batch path's dtypes: level boxes of a bfloat16 or float16
    level map (numpy has no bfloat16) equal those of the float32 map."""
    u = torch.full((2, 5, 7, 3), 6.5)
    u[0, 1:3, 2:4] = 0.5
    u[1, 4, 6, 1] = 3.0
    assert list(DF._level_boxes(u.to(dtype))) == list(DF._level_boxes(u))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_translation_on_the_cpu(dtype):
    """Half-precision images on the CPU take the torch blur, filtered in
    float32 (torch's bfloat16 depthwise convolution stalled for minutes at
    the 1x15 kernel of sigma ~1.66), within their precision of float32."""
    img = scene_image(24, 32, seed=3)
    params = random_params(1, 6, 7, sigma_max=2.0, seed=4)
    params[:, DF.PARAM_SLICES['sigma']] = 1.66  # the stalling level
    noise = DF.make_noise((1, 3, 24, 32), seed=5)
    with torch.inference_mode():
        ref = DF.translate(img, params, noise=noise)
        out = DF.translate(img.to(dtype), params.to(dtype),
                           noise=noise.to(dtype))
    assert out.dtype == dtype
    assert float((out.float() - ref).abs().mean()) < 0.01


@pytest.mark.parametrize('size,batch,layout,guided', [
    ((256, 512), 1, 'nchw', False), ((256, 512), 3, 'channels_last', True),
    ((1100, 1999), 1, 'nchw', True)])  # the whole-image and tiled paths
def test_translation_runs_no_image_sized_kernel_on_the_calling_thread(
        size, batch, layout, guided):
    """Without autograd on the CPU, every image-sized step of translate()
    runs on the tile pool's threads: a torch kernel on the calling thread
    would start torch's OpenMP team, whose threads then spin for a while
    on the cores the tile threads need (README, "Speed"). A dispatch mode
    sees the calling thread's kernels only (it is thread-local)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Kernels(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.large = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            numel = max([t.numel() for t in tree_leaves((args, kwargs, out))
                         if isinstance(t, torch.Tensor)] + [0])
            # 32768: at::internal::GRAIN_SIZE, below which no kernel forks
            if numel > 32768 and not func.is_view and \
                    func.overloadpacket is not torch.ops.aten.empty:
                self.large.add(str(func))
            return out

    img = scene_image(*size, seed=3).expand(batch, -1, -1, -1).contiguous()
    if layout == 'channels_last':
        img = img.contiguous(memory_format=torch.channels_last)
    params = random_params(1, 12, 20, sigma_max=2.0, seed=4)
    noise = DF.make_noise((batch, 3, *size), seed=5)
    mask = (torch.rand(batch, 1, *size) < 0.1) if guided else None
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            kernels = Kernels()
            with kernels:
                out = DF.translate(img, params, noise=noise,
                                   mean_colour=mask)
            ref = DF.translate(img, params, noise=noise, mean_colour=mask)
    finally:
        torch.set_num_threads(threads)
    assert kernels.large == set()
    assert torch.equal(out, ref)


@pytest.mark.parametrize('limit', [0, 40 * 64 * 3 * 4])
def test_batch_images_side_by_side_equal_each_alone(monkeypatch, limit):
    """A batch above the whole-image limit goes image by image, the images
    side by side on the pool's threads (tile by tile below ``limit``
    bytes per image, whole above): each image bit for bit as translated
    alone, with the caller's thread count untouched."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(DF, '_WHOLE_IMAGE_MAX_BYTES', limit)
    try:
        img = torch.rand(5, 3, 40, 64, generator=torch.Generator()
                         .manual_seed(0))
        params = random_params(5, 6, 8, sigma_max=DF.SIGMA_MAX, seed=1)
        noise = DF.make_noise((5, 3, 40, 64), seed=2)
        with torch.inference_mode():
            batch = DF.translate(img, params, noise=noise)
            alone = [DF.translate(img[i:i + 1], params[i:i + 1],
                                  noise=noise[i:i + 1]) for i in range(5)]
        assert torch.equal(batch, torch.cat(alone))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_opencv_tiles_cut_rows_and_columns(monkeypatch):
    """Wide images are cut into columns as well as rows: with tiles far
    smaller than the image (and than the widest blur margin), both OpenCV
    paths still equal the torch path, whose blur sees the whole image."""
    monkeypatch.setattr(DF, '_BLUR_TILE', (16, 24))
    monkeypatch.setattr(DF, '_TRANSLATE_TILE', (20, 13))
    assert cpu_exec.tiles(45, 50, (20, 13)) == [
        (top, top + 15, left, right) for top in (0, 15, 30)
        for left, right in ((0, 12), (12, 25), (25, 38), (38, 50))]
    img = torch.cat([scene_image(45, 50, seed=s) for s in (5, 6)])
    params = random_params(2, 6, 7, sigma_max=DF.SIGMA_MAX, seed=7)
    noise = DF.make_noise((2, 3, 45, 50), seed=8)
    ref = DF.translate(img, params.clone().requires_grad_(), noise=noise)
    whole = DF.translate(img, params, noise=noise)
    # A batch over the limit of images under it: image by image through
    # the whole-image path, into one output.
    monkeypatch.setattr(DF, '_WHOLE_IMAGE_MAX_BYTES', img[0].numel() * 4)
    per_image = DF.translate(img, params, noise=noise)
    monkeypatch.setattr(DF, '_WHOLE_IMAGE_MAX_BYTES', 0)
    tiled = DF.translate(img, params, noise=noise)
    for out in (whole, per_image, tiled):
        torch.testing.assert_close(out, ref.detach(), atol=2e-5, rtol=0)
    assert torch.equal(per_image, whole)
    # Tiles whose sigma is 0 (the left third of the map) skip their blur
    # beside tiles that blur, and read as their neighbours' margins.
    half = params.clone()
    half[:, DF.PARAM_SLICES['sigma'], :, :3] = 0.0
    half_ref = DF.translate(img, half.clone().requires_grad_(), noise=noise)
    torch.testing.assert_close(DF.translate(img, half, noise=noise),
                               half_ref.detach(), atol=2e-5, rtol=0)
    # Images whose sigma is 0 everywhere skip the blur on that path.
    monkeypatch.setattr(DF, '_WHOLE_IMAGE_MAX_BYTES', img[0].numel() * 4)
    same = DF.translate(img, DF.identity_params(2, (6, 7)))
    torch.testing.assert_close(same, img, atol=2e-6, rtol=0)


@pytest.mark.parametrize('size', [(1, 1), (1, 9), (9, 1), (200, 1)])
def test_opencv_path_takes_one_pixel_wide_images(size):
    """torch gives size-1 dimensions arbitrary strides, which OpenCV refuses
    as output layouts: thin images must still translate, as the torch path
    does."""
    img = torch.rand(2, 3, *size)
    params = random_params(2, 3, 5, seed=1)
    out = DF.translate(img, params)
    ref = DF.translate(img, params.clone().requires_grad_())
    torch.testing.assert_close(out, ref.detach(), atol=2e-5, rtol=0)


def test_sigma_to_level_is_the_same_with_and_without_autograd():
    sigma = torch.cat([torch.linspace(0, DF.SIGMA_MAX, 1001),
                       torch.tensor(DF.SIGMA_LEVELS)])
    plain = DF.sigma_to_level(sigma.clone())
    tracked = DF.sigma_to_level(sigma.clone().requires_grad_())
    torch.testing.assert_close(plain, tracked.detach(), atol=1e-6, rtol=0)
    # Level k sits at u == k; linear below the first level.
    levels = plain[-len(DF.SIGMA_LEVELS):]
    torch.testing.assert_close(levels, torch.arange(
        float(len(DF.SIGMA_LEVELS))), atol=1e-5, rtol=0)
    half = DF.sigma_to_level(torch.tensor([DF.SIGMA_FIRST_LEVEL / 2]))
    torch.testing.assert_close(half, torch.tensor([0.5]))


@pytest.mark.parametrize('mode', ['fast', 'exact'])
@pytest.mark.parametrize('sigma', [0.0, 0.4, 1.0, 2.5, 6.0])
def test_geometry_bright_pixel_centroid_stays_put(mode, sigma):
    img = torch.zeros(1, 3, 41, 45)
    img[..., 20, 17] = 1.0
    out = DF.local_gaussian_blur(img, torch.full((1, 1, 41, 45), sigma),
                                 mode=mode)
    yy, xx = torch.meshgrid(torch.arange(41.), torch.arange(45.),
                            indexing='ij')
    mass = out[0, 0].sum()
    assert abs(float((out[0, 0] * yy).sum() / mass) - 20) < 1e-4
    assert abs(float((out[0, 0] * xx).sum() / mass) - 17) < 1e-4
    assert int(out[0, 0].argmax()) == 20 * 45 + 17


def test_blur_sigma_broadcast_and_per_channel():
    img = scene_image(30, 40)
    s1 = torch.full((1, 1, 30, 40), 1.5)
    s3 = s1.expand(1, 3, 30, 40).clone()
    torch.testing.assert_close(DF.local_gaussian_blur(img, s1),
                               DF.local_gaussian_blur(img, s3))
    s3[:, 1] = 0  # green untouched
    out = DF.local_gaussian_blur(img, s3)
    assert torch.equal(out[:, 1], img[:, 1])
    assert not torch.allclose(out[:, 0], img[:, 0])


def test_exact_blur_memory_chunking_gives_same_result():
    img = scene_image(33, 41, dtype=torch.float64)
    sigma = 3 * torch.rand(1, 3, 33, 41, dtype=torch.float64)
    a = DF.local_gaussian_blur(img, sigma, mode='exact')
    b = DF.local_gaussian_blur(img, sigma, mode='exact',
                               max_chunk_bytes=1)  # one row at a time
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize('mode', ['fast', 'exact'])
def test_blur_gradcheck(mode):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 7, 9, generator=g,
                     dtype=torch.float64).requires_grad_()
    # Keep sigma off the level boundaries where the fast blend has kinks.
    sigma = (0.05 + 2.5 * torch.rand(1, 3, 7, 9, generator=g,
                                     dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, s: DF.local_gaussian_blur(a, s, mode=mode), (img, sigma))


def test_fast_blur_has_gradient_at_sigma_zero():
    # The KPN starts at sigma = 0; a zero gradient there would freeze the
    # blur for the whole training.
    img = scene_image(20, 30)
    sigma = torch.zeros(1, 3, 20, 30, requires_grad=True)
    out = DF.local_gaussian_blur(img, sigma)
    target = DF.local_gaussian_blur(img, torch.full_like(sigma, 1.0))
    ((out - target)**2).sum().backward()
    assert sigma.grad is not None and sigma.grad.abs().sum() > 0
    assert sigma.grad.sum() < 0  # more blur reduces the loss overall


def test_blur_rejects_bad_shapes():
    img = torch.rand(1, 3, 10, 10)
    with pytest.raises(ValueError, match='sigma'):
        DF.local_gaussian_blur(img, torch.zeros(1, 2, 10, 10))
    with pytest.raises(ValueError, match='sigma'):
        DF.local_gaussian_blur(img, torch.zeros(1, 1, 9, 10))
    with pytest.raises(ValueError, match='mode'):
        DF.local_gaussian_blur(img, torch.zeros(1, 1, 10, 10), mode='nope')
    with pytest.raises(ValueError, match='odd'):
        DF.local_gaussian_blur(img, torch.zeros(1, 1, 10, 10), kernel_size=4)


def test_blur_module_equals_function():
    img = scene_image(20, 30)
    sigma = 2 * torch.rand(1, 3, 20, 30)
    assert torch.equal(layers.LocalGaussianBlur()(img, sigma),
                       DF.local_gaussian_blur(img, sigma))


# --------------------------------------------------------------- translate

@pytest.mark.parametrize('size', [(37, 53), (96, 160), (720, 1280),
                                  (1052, 1914)])
def test_identity_params_identity_translation_with_noise(size):
    img = scene_image(*size)
    noise = DF.make_noise((1, 3) + size, seed=0)
    out = DF.translate(img, DF.identity_params(1, (12, 20)), noise=noise)
    assert (out - img).abs().max() < 1e-6


@pytest.mark.parametrize('size', [(720, 1280), (1052, 1914), (101, 77)])
def test_translate_any_size_one_pass_no_black_borders(size):
    # A constant grey image under blur only must stay that grey everywhere,
    # including the last rows/columns (1052 and 1914 are not multiples of 8).
    img = torch.full((1, 3) + size, 0.5)
    p = DF.identity_params(1, (96, 160))
    p[:, 6:9] = DF.SIGMA_MAX * torch.rand(1, 3, 96, 160)
    out = DF.translate(img, p)
    assert out.shape == img.shape
    torch.testing.assert_close(out, img, atol=2e-6, rtol=0)


def test_translate_crop_with_margin_equals_whole_image_crop():
    h, w = 120, 200
    img = scene_image(h, w, seed=7)
    params = random_params(1, 12, 20, seed=7)
    noise = DF.make_noise((1, 3, h, w), seed=3)
    whole = DF.translate(img, params, noise=noise)
    top, left, ch, cw = 30, 50, 45, 80  # region of interest
    m = DF.BLUR_MARGIN
    box = (top - m, left - m, ch + 2 * m, cw + 2 * m)
    crop_params = DF.upsample_params(params, (h, w), crop=box)
    t, l, hh, ww = box
    part = DF.translate(img[..., t:t + hh, l:l + ww], crop_params,
                        noise=noise[..., t:t + hh, l:l + ww])
    torch.testing.assert_close(part[..., m:m + ch, m:m + cw],
                               whole[..., top:top + ch, left:left + cw],
                               atol=1e-6, rtol=0)


def test_upsample_params_crop_equals_interpolate():
    p = torch.rand(2, 12, 12, 20)
    full = DF.upsample_params(p, (90, 161))
    ref = torch.nn.functional.interpolate(p, size=(90, 161), mode='bilinear',
                                          align_corners=False)
    # Without autograd on the CPU OpenCV resizes (the same sampling, float
    # rounding apart); with it, torch's own kernel.
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=0)
    assert torch.equal(DF.upsample_params(p.requires_grad_(), (90, 161)),
                       ref)
    p = p.detach()
    crop = DF.upsample_params(p, (90, 161), crop=(7, 13, 40, 100))
    torch.testing.assert_close(crop, full[..., 7:47, 13:113], atol=1e-6,
                               rtol=0)
    # Windows past the border replicate the edge rows/columns.
    edge = DF.upsample_params(p, (90, 161), crop=(-5, 150, 20, 20))
    torch.testing.assert_close(edge[..., 5:, :11], full[..., :15, 150:],
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(edge[..., :5, :11],
                               full[..., :1, 150:].expand(-1, -1, 5, -1),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(edge[..., 5:, 11:],
                               full[..., :15, 160:].expand(-1, -1, -1, 9),
                               atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match='overlap'):
        DF.upsample_params(p, (90, 161), crop=(95, 0, 40, 10))


def test_translate_patch_at_image_edge_with_replicated_margin():
    # Patch training at the border: pad source (and parameters) by
    # replication; the translated patch equals the whole image there.
    h, w = 60, 90
    img = scene_image(h, w, seed=8)
    params = random_params(1, 6, 9, seed=8)
    whole = DF.translate(img, params)
    m = DF.BLUR_MARGIN
    box = (-m, -m, 20 + 2 * m, 30 + 2 * m)  # the top-left 20x30 patch
    padded = torch.nn.functional.pad(img, (m, m, m, m), mode='replicate')
    part = DF.translate(padded[..., :20 + 2 * m, :30 + 2 * m],
                        DF.upsample_params(params, (h, w), crop=box))
    torch.testing.assert_close(part[..., m:m + 20, m:m + 30],
                               whole[..., :20, :30], atol=1e-6, rtol=0)


def test_translate_channel_order_follows_paper():
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    p = DF.identity_params(1, (2, 2))
    p[:, 2] = 0.5  # w_v: halves the value
    torch.testing.assert_close(
        DF.translate(red, p, color_space='hsv')[:, :, 0, 0],
        torch.tensor([[0.5, 0.0, 0.0]]))
    p = DF.identity_params(1, (2, 2))
    p[:, 3] = 1 / 3  # b_h: red -> green
    torch.testing.assert_close(
        DF.translate(red, p, color_space='hsv')[:, :, 0, 0],
        torch.tensor([[0.0, 1.0, 0.0]]), atol=1e-5, rtol=0)
    p = DF.identity_params(1, (2, 2))
    p[:, 10] = 0.5  # n_g: noise in green only
    noise = torch.ones(1, 3, 8, 8)
    torch.testing.assert_close(DF.translate(red, p, noise)[:, :, 0, 0],
                               torch.tensor([[1.0, 0.5, 0.0]]))


def test_translate_output_is_clamped_and_differentiable():
    img = scene_image(24, 32, dtype=torch.float64).requires_grad_()
    p = random_params(1, 6, 8, dtype=torch.float64)
    p[:, 3:6] += 0.5  # pushes values out of range before the clamp
    p.requires_grad_()
    noise = DF.make_noise((1, 3, 24, 32), seed=0, dtype=torch.float64)
    out = DF.translate(img, p, noise)
    assert out.min() >= 0 and out.max() <= 1
    out.sum().backward()
    assert p.grad.abs().sum() > 0 and img.grad.abs().sum() > 0


def test_translate_gradcheck():
    g = torch.Generator().manual_seed(2)
    img = (0.1 + 0.8 * torch.rand(1, 3, 8, 9, generator=g,
                                  dtype=torch.float64)).requires_grad_()
    p = random_params(1, 3, 4, sigma_max=2.0, seed=2,
                      dtype=torch.float64).requires_grad_()
    noise = DF.make_noise((1, 3, 8, 9), seed=0, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: DF.translate(a, b, noise, clamp=False), (img, p))


def test_translate_module_equals_function():
    img = scene_image(20, 30)
    p = random_params(1, 4, 6)
    noise = DF.make_noise((1, 3, 20, 30), seed=1)
    assert torch.equal(layers.Translate()(img, p, noise),
                       DF.translate(img, p, noise))


def test_translate_rejects_bad_input():
    p = DF.identity_params(1, (4, 4))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        DF.translate(torch.rand(1, 4, 8, 8), p)
    with pytest.raises(TypeError, match='float'):
        DF.translate(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), p)
    with pytest.raises(ValueError, match='params'):
        DF.translate(torch.rand(1, 3, 8, 8), torch.zeros(1, 11, 4, 4))
    with pytest.raises(ValueError, match='empty'):
        DF.translate(torch.rand(1, 3, 0, 8), p)
    with pytest.raises(ValueError, match='noise'):
        DF.translate(torch.rand(1, 3, 8, 8), p, noise=torch.rand(1, 3, 4, 4))


def test_paper_noise_is_clamped_normal_and_seeded():
    a = DF.make_noise((2, 3, 64, 64), seed=5, distribution='clamped')
    b = DF.make_noise((2, 3, 64, 64), seed=5, distribution='clamped')
    c = DF.make_noise((2, 3, 64, 64), seed=6, distribution='clamped')
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() == 0 and a.max() <= 1
    # Half of N(0, 1) is negative and clamps to 0.
    assert 0.45 < float((a == 0).float().mean()) < 0.55


def test_translate_batch_elements_are_independent():
    imgs = torch.cat([scene_image(32, 48, seed=s) for s in range(3)])
    p = random_params(3, 4, 6)
    noise = DF.make_noise((3, 3, 32, 48), seed=0)
    out = DF.translate(imgs, p, noise)
    for i in range(3):
        torch.testing.assert_close(
            out[i:i + 1], DF.translate(imgs[i:i + 1], p[i:i + 1],
                                       noise[i:i + 1]), atol=1e-6, rtol=0)


@pytest.mark.parametrize('tile', [4, 32, 64])
def test_banded_matmul_blur_is_the_separable_gaussian(tile):
    """The accelerators' half-precision blur (banded matrix products per
    tile of outputs) computes the same sums as the depthwise convolutions,
    for sizes that are not multiples of the tile, and its gradients are
    right (float64, gradcheck)."""
    x = torch.rand(2, 37, 53, 3, dtype=torch.float64)
    pad = DF.BLUR_MARGIN
    padded = DF._replicate_pad_nhwc(x, pad)
    for sigma in (0.3, 1.7, DF.SIGMA_MAX):
        radius = DF._level_radius(sigma, DF.KERNEL_SIZE)
        k = DF.gaussian_kernel1d(torch.tensor(sigma, dtype=x.dtype),
                                 2 * radius + 1)
        band = DF._band_matrix(k, tile)
        rows = DF._correlate_matmul(padded, band, 2, pad - radius, 53)
        out = DF._correlate_matmul(rows, band, 1, pad - radius, 37)
        torch.testing.assert_close(
            out, DF._blur_fixed(padded, pad, sigma, DF.KERNEL_SIZE),
            atol=1e-12, rtol=0)
    a = torch.rand(1, 9, 11, 3, dtype=torch.float64, requires_grad=True)
    taps = torch.rand(5, dtype=torch.float64, requires_grad=True)

    def blur(a, taps):
        band = DF._band_matrix(taps, tile)
        return DF._correlate_matmul(DF._correlate_matmul(a, band, 2, 1, 7),
                                    band, 1, 2, 5)
    assert torch.autograd.gradcheck(blur, (a, taps))


@pytest.mark.parametrize('dtype,uses_matmul', [
    (torch.float16, True), (torch.bfloat16, True), (torch.float32, False)])
def test_accelerator_blur_formulation_by_dtype(monkeypatch, dtype,
                                               uses_matmul):
    """Off the CPU (here the shape-only 'meta' device), half precision
    blurs by banded matmuls and float32 by convolutions: the choice the
    H200 measurements made (docs/speed.md)."""
    calls = []
    real = DF._correlate_matmul
    monkeypatch.setattr(DF, '_correlate_matmul',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    padded = torch.empty(1, 44, 64, 3, dtype=dtype, device='meta')
    out = DF._blur_fixed(padded, 12, 2.0, DF.KERNEL_SIZE)
    assert out.shape == (1, 20, 40, 3) and out.dtype == dtype
    assert bool(calls) == uses_matmul


def test_translate_on_device_matches_cpu(device):
    img = scene_image(40, 60)
    p = random_params(1, 6, 8)
    noise = DF.make_noise((1, 3, 40, 60), seed=0)
    ref = DF.translate(img, p, noise)
    out = DF.translate(img.to(device), p.to(device), noise.to(device))
    assert out.device.type == device.type
    torch.testing.assert_close(out.cpu(), ref, atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='CUDA not available')
@pytest.mark.parametrize('dtype,mean_tol,max_tol', [
    (torch.float16, 1e-3, 1e-2), (torch.bfloat16, 4e-3, 4e-2)])
def test_half_precision_translation_on_cuda(dtype, mean_tol, max_tol):
    """A half-precision batch on an accelerator (the banded-matmul blur)
    stays close to float32 on the CPU from the same rounded image and
    noise (H200, 720x1280: float16 mean 2e-4 / max 2.6e-3, bfloat16
    1.6e-3 / 1.8e-2)."""
    device = torch.device('cuda')
    img = scene_image(40, 60).to(dtype)
    p = random_params(1, 6, 8)
    noise = DF.make_noise((1, 3, 40, 60), seed=0).to(dtype)
    ref = DF.translate(img.float(), p, noise.float())
    out = DF.translate(img.to(device), p.to(device), noise.to(device))
    assert out.dtype == dtype
    diff = (out.float().cpu() - ref).abs()
    assert float(diff.mean()) <= mean_tol and float(diff.max()) <= max_tol


def test_ycbcr_round_trip_and_parameter_meaning():
    rgb = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(DF.ycbcr_to_rgb(DF.rgb_to_ycbcr(rgb)), rgb)
    assert DF.param_names('ycbcr')[:6] == ('w_y', 'w_cb', 'w_cr', 'b_y',
                                           'b_cb', 'b_cr')
    assert DF.param_names('hsv') == DF.PARAM_NAMES
    colour = torch.tensor([0.6, 0.45, 0.4]).view(1, 3, 1, 1).expand(
        1, 3, 6, 6).contiguous()
    p = DF.identity_params(1, (2, 2))
    p[:, 0] = 0.5  # w_y halves the luma, chroma unchanged
    out = DF.rgb_to_ycbcr(DF.translate(colour, p))[0, :, 0, 0]
    ref = DF.rgb_to_ycbcr(colour)[0, :, 0, 0]
    torch.testing.assert_close(out, ref * torch.tensor([0.5, 1, 1]))
    p = DF.identity_params(1, (2, 2))
    p[:, 1:3] = 0.0  # no chroma: the luma's grey
    out = DF.translate(colour, p)[0, :, 0, 0]
    torch.testing.assert_close(out, ref[0].expand(3))
    grey = torch.full((1, 3, 6, 6), 0.5)
    p = DF.identity_params(1, (2, 2))
    p[:, 1:3] = 2.0  # a chroma gain leaves greys grey
    torch.testing.assert_close(DF.translate(grey, p), grey)
    with pytest.raises(ValueError, match='color_space'):
        DF.translate(grey, p, color_space='lab')


def _hue(rgb):
    return DF.rgb_to_hsv(rgb)[:, 0]


@pytest.mark.parametrize('gain', [0.5, 0.8, 1.5])
def test_red_object_straddling_hue_zero_keeps_one_hue(gain):
    """No rainbow fringes: a red object whose hues sit on both sides of 0
    (slightly magenta and slightly orange reds) keeps one red hue after a
    colour gain in the default colour space. In the paper's HSV space the
    same gain on w_h tears it into two far-apart hues."""
    reds = torch.tensor([[1.0, 0.05, 0.12], [1.0, 0.12, 0.05],
                         [0.9, 0.02, 0.08], [0.9, 0.08, 0.02]])
    img = reds.t().reshape(1, 3, 1, 4).expand(1, 3, 4, 4).contiguous()
    hue_in = _hue(img)
    assert (hue_in > 0.9).any() and (hue_in < 0.1).any()  # straddles 0

    def circular_spread(h):
        d = (h.flatten()[:, None] - h.flatten()[None, :]).abs()
        return torch.minimum(d, 1 - d).max().item()

    p = DF.identity_params(1, (2, 2))
    p[:, 0:3] = gain  # every colour gain at once
    out = DF.translate(img, p)
    sat = DF.rgb_to_hsv(out)[:, 1]
    assert sat.min() > 0.3  # still a colour, so its hue is meaningful
    # Input hues span 9 degrees; "one hue": within 18 degrees (0.05 of the
    # wheel) after the gain, gamut clipping included.
    assert circular_spread(hue_in) < 0.03
    assert circular_spread(_hue(out)) < 0.05
    hsv_out = DF.translate(img, p, color_space='hsv')
    assert circular_spread(_hue(hsv_out)) > 0.2  # the paper's rainbow


def test_noise_distributions():
    g = DF.make_noise((1, 3, 200, 200), seed=0)
    assert abs(g.mean().item()) < 0.01 and abs(g.std().item() - 1) < 0.01
    c = DF.make_noise((1, 3, 200, 200), seed=0, distribution='clamped')
    assert c.min() >= 0 and c.max() <= 1 and abs(c.mean() - 0.316) < 0.01
    with pytest.raises(ValueError, match='distribution'):
        DF.make_noise((1, 3, 4, 4), distribution='uniform')


def test_noise_fields_are_channels_last_with_the_seeds_values():
    """An image-shaped field comes in the layout translate() works in,
    with the values its seed always gave (N(0, 1) drawn in NCHW order)."""
    g = DF.make_noise((2, 3, 20, 30), seed=4)
    assert g.is_contiguous(memory_format=torch.channels_last)
    assert not g.is_contiguous()
    expected = torch.randn(2, 3, 20, 30,
                           generator=torch.Generator().manual_seed(4))
    assert torch.equal(g, expected)
    assert DF.make_noise((5, 7), seed=0).is_contiguous()  # not an image
