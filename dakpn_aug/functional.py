"""The DA-KPN translation function (paper Eq. 1 and 2), in one place.

.. math::

    T(p_i) = n_i \\cdot N_i + k_{\\sigma_i} * (w_i \\cdot p_i + b_i)

Per pixel and channel: RGB -> HSV, affine ``w * hsv + b``, HSV -> RGB, a
Gaussian blur whose sigma varies per pixel and channel (25x25 support,
kernel normalised to sum 1, replicate border), plus scaled noise, then a
clamp to [0, 1]. Nothing moves: every output pixel is computed from the
input's own location and its 25x25 neighbourhood, so segmentation labels
stay valid.

Everything that adapts data (mmseg transform, albumentations, offline tool,
training) calls :func:`translate`; nothing else re-implements the equation.
How its no-autograd CPU path runs (kept buffers, the tile threads) is
:mod:`dakpn_aug.cpu_exec`'s business; the maths stays here.

Parameter layout (12 channels, paper order)::

    0 w_h  1 w_s  2 w_v | 3 b_h  4 b_s  5 b_v | 6 sigma_r 7 sigma_g 8 sigma_b | 9 n_r 10 n_g 11 n_b

Colour space of the affine ``w * p + b`` (``color_space``):

- ``'ycbcr'`` (default): luma and two colour-difference channels (BT.601,
  full range, chroma centred on 0). Every channel is linear in RGB and none
  is circular, so a gain on Cb/Cr is a saturation change that keeps the
  hue, an offset is a colour cast, and greys stay grey unless an offset
  tints them. Layout ``w_y w_cb w_cr | b_y b_cb b_cr``.
- ``'hsv'`` (the paper): ``w_h * h`` multiplies a circular quantity, so an
  object whose hues straddle 0 (red) is torn into two colours (rainbow
  fringes), and hue means nothing where saturation is ~0. Kept for
  reproducing the paper.

The noise field ``N`` (``make_noise``): ``'gaussian'`` (default) is
zero-mean N(0, 1), so ``n`` is the std of added sensor noise; ``'clamped'``
is the paper's N(0, 1) clamped to [0, 1], which has mean 0.32 and so
brightens the image by ``0.32 * n`` besides adding noise.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# The noise field lives in noise.py (one place); re-exported here because
# Eq. 1's users find it next to translate().
from .noise import NOISE_DISTRIBUTIONS, make_noise  # noqa: F401
from . import cpu_exec

__all__ = [
    'NUM_PARAMS', 'PARAM_NAMES', 'PARAM_SLICES', 'COLOR_SPACES',
    'NOISE_DISTRIBUTIONS', 'param_names', 'rgb_to_ycbcr', 'ycbcr_to_rgb',
    'color_affine', 'KERNEL_SIZE', 'BLUR_MARGIN', 'SIGMA_MAX',
    'SIGMA_LEVELS', 'split_params', 'identity_params', 'rgb_to_hsv',
    'hsv_to_rgb', 'gaussian_kernel1d', 'local_gaussian_blur',
    'upsample_params', 'make_noise', 'translate', 'label_guidance_mask'
]

NUM_PARAMS = 12
PARAM_NAMES = ('w_h', 'w_s', 'w_v', 'b_h', 'b_s', 'b_v', 'sigma_r',
               'sigma_g', 'sigma_b', 'n_r', 'n_g', 'n_b')
#: Where each group of the 12 channels lives (one place for the layout).
PARAM_SLICES = dict(weight=slice(0, 3), bias=slice(3, 6), sigma=slice(6, 9),
                    noise=slice(9, 12))
COLOR_SPACES = ('ycbcr', 'hsv')
#: The paper's blur support: a 25x25 kernel.
KERNEL_SIZE = 25
#: Pixels a crop must extend beyond its region of interest so that
#: translating the crop equals translating the whole image there.
BLUR_MARGIN = KERNEL_SIZE // 2
#: Largest supported blur sigma (pixels). Beyond ~6 a 25x25 support is
#: essentially a box filter, so larger values add nothing.
SIGMA_MAX = 6.0

#: The fast blur filters the image exactly at fixed sigma levels and blends
#: the two levels around each pixel's sigma. Levels: 0, then geometric from
#: SIGMA_FIRST_LEVEL to SIGMA_MAX (ratio ~1.24). The blend is linear in the
#: closed-form coordinate ``u(sigma)`` (linear below the first level, log
#: above), so finding a pixel's levels costs a few element-wise ops. The
#: spacing keeps the L1 distance between the blended 2D kernel and the true
#: sampled Gaussian <= 0.04 for every sigma (<= 0.02 error on any pixel of an
#: image in [0, 1]; ~5e-4 mean on natural images; see tests). Near 0 the
#: blend is linear in sigma, so d(out)/d(sigma) is not zero at the identity
#: initialisation (a sampled Gaussian's derivative vanishes there, which
#: would freeze the blur in training).
SIGMA_FIRST_LEVEL = 0.3
SIGMA_NUM_LEVELS = 16
_LOG_RATIO = math.log(SIGMA_MAX / SIGMA_FIRST_LEVEL) / (SIGMA_NUM_LEVELS - 2)
SIGMA_LEVELS = (0.0, ) + tuple(
    SIGMA_FIRST_LEVEL * math.exp(k * _LOG_RATIO)
    for k in range(SIGMA_NUM_LEVELS - 1))

_EPS = 1e-8


def _check_image(img: Tensor, name: str = 'img') -> None:
    if not isinstance(img, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(img)}')
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(
            f'{name} must have shape (B, 3, H, W), got {tuple(img.shape)}')
    if not img.is_floating_point():
        raise TypeError(f'{name} must be a float tensor with values in '
                        f'[0, 1], got dtype {img.dtype}')
    if img.shape[-1] == 0 or img.shape[-2] == 0 or img.shape[0] == 0:
        raise ValueError(f'{name} is empty: shape {tuple(img.shape)}')


def param_names(color_space: str = 'ycbcr') -> Tuple[str, ...]:
    """Names of the 12 channels for a colour space (see the module doc)."""
    _check_color_space(color_space)
    if color_space == 'hsv':
        return PARAM_NAMES
    return ('w_y', 'w_cb', 'w_cr', 'b_y', 'b_cb', 'b_cr') + PARAM_NAMES[6:]


def _check_color_space(color_space: str) -> None:
    if color_space not in COLOR_SPACES:
        raise ValueError(f'color_space must be one of {COLOR_SPACES}, got '
                         f'{color_space!r}')


def split_params(params: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Split a (B, 12, h, w) parameter map into ``(w_hsv, b_hsv, sigma_rgb,
    n_rgb)``, each (B, 3, h, w)."""
    if params.dim() != 4 or params.shape[1] != NUM_PARAMS:
        raise ValueError('params must have shape (B, 12, h, w), got '
                         f'{tuple(params.shape)}')
    return tuple(params[:, PARAM_SLICES[k]]
                 for k in ('weight', 'bias', 'sigma', 'noise'))


def identity_params(batch: int = 1,
                    size: Tuple[int, int] = (1, 1),
                    device=None,
                    dtype=torch.float32) -> Tensor:
    """Parameters of the identity translation: w=1, b=0, sigma=0, n=0.

    Example:
        >>> identity_params(2, (4, 5)).shape
        torch.Size([2, 12, 4, 5])
    """
    p = torch.zeros(batch, NUM_PARAMS, *size, device=device, dtype=dtype)
    p[:, PARAM_SLICES['weight']] = 1.0
    return p


# ---------------------------------------------------------------- colour


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """Convert RGB in [0, 1] to HSV, every channel in [0, 1].

    Hue is in [0, 1) (a fraction of the colour wheel); greys get hue 0 and
    saturation 0. Differentiable (safe divisions).

    Args:
        rgb: (..., 3, H, W) float tensor.

    Returns:
        (..., 3, H, W) tensor ``[h, s, v]``.

    Example:
        >>> rgb_to_hsv(torch.tensor([1., 0., 0.]).view(1, 3, 1, 1)).flatten()
        tensor([0., 1., 1.])
    """
    r, g, b = rgb.unbind(-3)
    v = torch.maximum(torch.maximum(r, g), b)
    mn = torch.minimum(torch.minimum(r, g), b)
    c = v - mn
    chroma_safe = torch.where(c > 0, c, torch.ones_like(c))
    # Sextant formula; which branch applies depends on the max channel.
    h_r = torch.remainder((g - b) / chroma_safe, 6.0)
    h_g = (b - r) / chroma_safe + 2.0
    h_b = (r - g) / chroma_safe + 4.0
    h = torch.where(v == r, h_r, torch.where(v == g, h_g, h_b))
    h = torch.where(c > 0, h / 6.0, torch.zeros_like(h))
    h = h - torch.floor(h)  # 1.0 - tiny can round to 1.0: keep [0, 1)
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)),
                    torch.zeros_like(v))
    return torch.stack((h, s, v), dim=-3)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """Convert HSV to RGB in [0, 1].

    Hue wraps (any real value, taken modulo 1), saturation and value are
    clamped to [0, 1]. Branch-free (``f(n) = v - v*s*clamp(min(k, 4-k), 0, 1)``,
    ``k = (n + 6h) mod 6``), so sextant boundaries and hues outside [0, 1]
    are handled exactly, not turned black.

    Args:
        hsv: (..., 3, H, W) float tensor ``[h, s, v]``.

    Returns:
        (..., 3, H, W) RGB tensor.

    Example:
        >>> hsv_to_rgb(torch.tensor([1/3, 1., 1.]).view(1, 3, 1, 1)).flatten()
        tensor([0., 1., 0.])
    """
    h, s, v = hsv.unbind(-3)
    h6 = torch.remainder(h, 1.0) * 6.0
    s = s.clamp(0.0, 1.0)
    v = v.clamp(0.0, 1.0)
    vs = v * s
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
        out.append(v - vs * ramp)
    return torch.stack(out, dim=-3)


#: BT.601 luma weights of R, G, B; Cb = (B - Y) / _CB, Cr = (R - Y) / _CR
#: puts both colour differences in [-0.5, 0.5].
_LUMA = (0.299, 0.587, 0.114)
_CB = 2.0 * (1.0 - _LUMA[2])
_CR = 2.0 * (1.0 - _LUMA[0])


# The same two maps as matrices, for OpenCV (rgb_to_ycbcr below is the
# definition; a test holds them equal).
_RGB_TO_YCBCR = torch.tensor(
    [_LUMA,
     [-_LUMA[0] / _CB, -_LUMA[1] / _CB, (1.0 - _LUMA[2]) / _CB],
     [(1.0 - _LUMA[0]) / _CR, -_LUMA[1] / _CR, -_LUMA[2] / _CR]],
    dtype=torch.float64)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_YCBCR_TO_RGB[_YCBCR_TO_RGB.abs() < 1e-12] = 0.0  # B has no Cr: exactly 0


def _transform_opencv(x: Tensor, matrix: Tensor,
                      slot: Optional[str] = None,
                      out: Optional[Tensor] = None) -> Tensor:
    """``matrix @ x`` over the channels of a channels-last (B, 3, H, W)
    float32 CPU tensor by ``cv2.transform`` (~20x faster than a matmul with
    an inner dimension of 3, or than the per-plane formulas), into ``out``
    (channels-last rows) or the :func:`cpu_exec.scratch` buffer ``slot`` if
    given."""
    import cv2
    last = x.permute(0, 2, 3, 1)
    m = matrix.to(torch.float32).numpy()
    if out is not None:
        out = out.permute(0, 2, 3, 1)
    elif slot is None:
        out = torch.empty_like(last)
    else:
        out = cpu_exec.scratch(slot, tuple(last.shape))
    for src, dst in zip(cpu_exec.opencv_images(last),
                        cpu_exec.opencv_images(out)):
        cv2.transform(src, m, dst=dst)
    return out.permute(0, 3, 1, 2)


def _opencv_transform_applies(x: Tensor) -> bool:
    return x.dim() == 4 and _opencv_applies(x) and \
        x.permute(0, 2, 3, 1).is_contiguous()


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """RGB in [0, 1] -> ``[Y, Cb, Cr]`` (BT.601 full range, chroma centred:
    Y in [0, 1], Cb and Cr in [-0.5, 0.5]). Linear, so it is exactly
    invertible and has no circular channel.

    Example:
        >>> grey = torch.tensor([.5, .5, .5]).view(1, 3, 1, 1)
        >>> rgb_to_ycbcr(grey).flatten().round(decimals=6) + 0.0
        tensor([0.5000, 0.0000, 0.0000])
    """
    if _opencv_transform_applies(rgb):
        return _transform_opencv(rgb, _RGB_TO_YCBCR)
    return _rgb_to_ycbcr_torch(rgb)


def _rgb_to_ycbcr_torch(rgb: Tensor) -> Tensor:
    r, g, b = rgb.unbind(-3)
    y = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b
    return torch.stack((y, (b - y) / _CB, (r - y) / _CR), dim=-3)


def ycbcr_to_rgb(ycc: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    if _opencv_transform_applies(ycc):
        return _transform_opencv(ycc, _YCBCR_TO_RGB)
    return _ycbcr_to_rgb_torch(ycc)


def _ycbcr_to_rgb_torch(ycc: Tensor) -> Tensor:
    y, cb, cr = ycc.unbind(-3)
    r = y + _CR * cr
    b = y + _CB * cb
    g = (y - _LUMA[0] * r - _LUMA[2] * b) / _LUMA[1]
    return torch.stack((r, g, b), dim=-3)


def color_affine(img: Tensor, weight: Tensor, bias: Tensor,
                 color_space: str = 'ycbcr',
                 out: Optional[Tensor] = None) -> Tensor:
    """``w * p + b`` in ``color_space`` (the colour part of Eq. 1).

    Returns RGB in [0, 1] (out-of-gamut results are clamped), in ``out``
    ((B, 3, H, W), without autograd) if given.
    """
    _check_color_space(color_space)
    if color_space == 'hsv':
        rgb = hsv_to_rgb(weight * rgb_to_hsv(img) + bias)
        return rgb if out is None else out.copy_(rgb)
    if torch.is_grad_enabled() and (img.requires_grad or
                                    weight.requires_grad or
                                    bias.requires_grad):
        # Training: torch's ops, in the order the recipes were trained with.
        rgb = _ycbcr_to_rgb_torch(weight * _rgb_to_ycbcr_torch(img) + bias)
        return rgb.clamp(0.0, 1.0)
    # In place without autograd (a fresh full-size tensor costs a pass);
    # the YCbCr temporary in a kept buffer where OpenCV makes it.
    ycc = _transform_opencv(img, _RGB_TO_YCBCR, slot='ycbcr') \
        if _opencv_transform_applies(img) else rgb_to_ycbcr(img)
    ycc.mul_(weight).add_(bias)
    if out is not None and _opencv_transform_applies(ycc) and \
            _opencv_transform_applies(out):
        return _transform_opencv(ycc, _YCBCR_TO_RGB, out=out).clamp_(0.0,
                                                                     1.0)
    rgb = ycbcr_to_rgb(ycc).clamp_(0.0, 1.0)
    return rgb if out is None else out.copy_(rgb)


# ------------------------------------------------------------------ blur


def gaussian_kernel1d(sigma: Tensor, kernel_size: int = KERNEL_SIZE) -> Tensor:
    """Sampled 1D Gaussians normalised to sum 1 over ``kernel_size`` taps.

    ``sigma == 0`` gives the unit impulse (exactly). Because the 2D kernel of
    Eq. 2 is ``exp(-(x^2+y^2)/2s^2)`` over a square support, it is the outer
    product of two of these, normalisation included.

    Args:
        sigma: tensor of any shape (...,).
        kernel_size: odd number of taps.

    Returns:
        (..., kernel_size) tensor.
    """
    radius = kernel_size // 2
    x = torch.arange(-radius, radius + 1, device=sigma.device,
                     dtype=sigma.dtype)
    s = sigma.unsqueeze(-1)
    zero = s <= 0
    s_safe = torch.where(zero, torch.ones_like(s), s)
    logits = -(x * x) / (2.0 * s_safe * s_safe)
    k = torch.softmax(logits, dim=-1)  # exp / sum, overflow-safe
    impulse = (x == 0).to(sigma.dtype).expand_as(k)
    return torch.where(zero, impulse, k)


def _check_blur_args(img: Tensor, sigma: Tensor, kernel_size: int) -> None:
    if img.dim() != 4:
        raise ValueError(f'img must be (B, C, H, W), got {tuple(img.shape)}')
    if sigma.dim() != 4 or sigma.shape[0] not in (1, img.shape[0]) or \
            sigma.shape[1] not in (1, img.shape[1]) or \
            sigma.shape[-2:] != img.shape[-2:]:
        raise ValueError('sigma must be (B, C, H, W) or (B, 1, H, W) with the '
                         f'image size; got {tuple(sigma.shape)} for image '
                         f'{tuple(img.shape)}')
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')


def _replicate_pad_nhwc(x: Tensor, radius: int) -> Tensor:
    """Replicate-pad H and W of a (B, H, W, C) tensor by ``radius``.

    ``F.pad`` on channels-last tensors is ~10x slower than this on CPU.
    """
    for dim in (2, 1):
        n = x.shape[dim]
        shape = list(x.shape)
        shape[dim] = radius
        x = torch.cat((x.narrow(dim, 0, 1).expand(shape), x,
                       x.narrow(dim, n - 1, 1).expand(shape)), dim=dim)
    return x


def _level_radius(sigma: float, kernel_size: int) -> int:
    # Taps beyond 4 sigma carry < 7e-5 of the mass: dropping them (and
    # renormalising) saves time on small sigmas at no visible cost.
    return min(kernel_size // 2, max(1, math.ceil(4.0 * sigma)))


def _blur_fixed(padded_nhwc: Tensor, pad: int, sigma: float,
                kernel_size: int) -> Tensor:
    """Separable Gaussian of one sigma with replicate border.

    Takes the image replicate-padded by ``pad`` in (B, H, W, C) layout and
    returns the (B, H, W, C) result. Depthwise convs on channels-last data
    are ~25x faster on CPU than the same arithmetic as a batch-reshaped conv
    (NOTES.md). Padding once for all levels is exact: rows of the padded
    margin are copies of edge rows, and a horizontal filter commutes with
    copying rows.
    """
    if padded_nhwc.device.type == 'cpu' and \
            padded_nhwc.dtype in (torch.float16, torch.bfloat16):
        # torch's half-precision depthwise convolutions can stall on the
        # CPU (a 1x15 bfloat16 kernel on a 48x56 image did not return in
        # minutes, torch 2.13): filter in float32 there.
        return _blur_fixed(padded_nhwc.float(), pad, sigma,
                           kernel_size).to(padded_nhwc.dtype)
    c = padded_nhwc.shape[-1]
    radius = _level_radius(sigma, kernel_size)
    k = gaussian_kernel1d(
        torch.tensor(sigma, dtype=padded_nhwc.dtype,
                     device=padded_nhwc.device), 2 * radius + 1)
    off = pad - radius
    h = padded_nhwc.shape[1] - 2 * pad
    w = padded_nhwc.shape[2] - 2 * pad
    if padded_nhwc.device.type != 'cpu' and \
            padded_nhwc.dtype in (torch.float16, torch.bfloat16):
        # On a GPU in half precision cuDNN's depthwise convolutions are the
        # slow way (95% of a translation's time on an H200, over a third of
        # it layout transforms): banded matrix products run the same sums on
        # its matrix units, 3.0x / 3.4x the float16 images per second
        # (typical / full range, batch 16, 720x1280). In float32 they were
        # no faster at batch 16 and 1.2-1.3x slower for single images
        # (docs/speed.md), so float32 keeps cuDNN.
        band = _band_matrix(k)
        rows = _correlate_matmul(padded_nhwc, band, 2, off, w)
        return _correlate_matmul(rows, band, 1, off, h)
    # Convolve the whole padded image (a view, no copy) and take the centre
    # of the result: slicing the input first would copy it for every level.
    x = padded_nhwc.permute(0, 3, 1, 2)  # NCHW view, channels-last strides
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x[:, :, off:off + h, off:off + w].permute(0, 2, 3, 1)


#: Outputs per tile of :func:`_correlate_matmul`'s banded products: of
#: 32, 64, 128 and 256, 32 was fastest in half precision on an H200
#: (docs/speed.md).
MATMUL_TILE = 32


def _band_matrix(k: Tensor, tile: int = MATMUL_TILE) -> Tensor:
    """The (tile + taps - 1, tile) matrix whose column ``o`` holds the taps
    ``k`` from row ``o`` on: a window of inputs times it is ``tile``
    correlation outputs."""
    taps = k.numel()
    i = torch.arange(tile + taps - 1, device=k.device).view(-1, 1) - \
        torch.arange(tile, device=k.device)
    return torch.where((i >= 0) & (i < taps), k[i.clamp(0, taps - 1)],
                       k.new_zeros(()))


def _correlate_matmul(x: Tensor, band: Tensor, dim: int, start: int,
                      length: int) -> Tensor:
    """``length`` outputs of the correlation of ``x`` along ``dim`` with
    the taps of ``band`` (:func:`_band_matrix`): output ``o`` is
    ``sum_i k[i] * x[start + o + i]``.

    Each tile of outputs is one window of inputs times ``band``, all tiles
    in one matrix product (``tile / window`` of its multiplications are
    the filter's own; the rest multiply zeros of the band). Inputs past
    the end of ``x`` count as zeros and only reach outputs past
    ``length``.
    """
    window, tile = band.shape
    tiles = -(-length // tile)
    need = (tiles - 1) * tile + window
    x = x.narrow(dim, start, min(need, x.shape[dim] - start))
    if x.shape[dim] < need:
        shape = list(x.shape)
        shape[dim] = need - x.shape[dim]
        x = torch.cat((x, x.new_zeros(shape)), dim)
    y = x.unfold(dim, window, tile) @ band  # tiles at dim, tile last
    y = y.movedim(-1, dim + 1).flatten(dim, dim + 1)
    return y.narrow(dim, 0, length)


def _opencv_applies(t: Tensor) -> bool:
    """Whether OpenCV may stand in for a torch kernel on ``t``: float32 on
    the CPU with no gradient to track (OpenCV's SIMD filters and resize are
    3-5x faster there; README, "Speed"). Everything else, training
    included, runs the torch kernels."""
    return t.device.type == 'cpu' and t.dtype == torch.float32 and \
        not t.requires_grad


def _resize_opencv(params: Tensor, size: Tuple[int, int],
                   slot: Optional[str] = None,
                   out: Optional[Tensor] = None) -> Tensor:
    """``F.interpolate(params, size, 'bilinear', align_corners=False)`` by
    OpenCV's ``INTER_LINEAR`` (the same half-pixel sampling; within 1e-5 of
    torch's), returned in channels-last memory, the layout translate()
    works in; in the :func:`cpu_exec.scratch` buffer ``slot`` if given, or
    in ``out`` (B, H, W, C, contiguous rows)."""
    import cv2
    b, c = params.shape[:2]
    if out is None:
        out = torch.empty(b, size[0], size[1], c, dtype=params.dtype) \
            if slot is None else cpu_exec.scratch(slot,
                                                  (b, size[0], size[1], c))
    # The low-res maps copied by numpy: a torch copy of this size would
    # start torch's OpenMP team (see _translate_bands).
    for src, dst in zip(params.permute(0, 2, 3, 1).numpy(),
                        cpu_exec.opencv_images(out)):
        cv2.resize(np.ascontiguousarray(src), (size[1], size[0]), dst=dst,
                   interpolation=cv2.INTER_LINEAR)  # in place: no copy
    return out.permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=64)
def _level_kernel_numpy(sigma: float, kernel_size: int):
    """A level's taps for OpenCV (float32), made once per level."""
    radius = _level_radius(sigma, kernel_size)
    return gaussian_kernel1d(torch.tensor(sigma, dtype=torch.float64),
                             2 * radius + 1).to(torch.float32).numpy()


def _blur_plane_cv2(plane: np.ndarray, sigma: float,
                    kernel_size: int) -> Tensor:
    """:func:`_blur_fixed` of one (H, W) float32 plane (any row stride)
    without padding or autograd, by OpenCV, into a buffer kept per thread
    (:func:`cpu_exec.scratch_plane`): valid until this thread's next call.

    The same separable kernel (:func:`gaussian_kernel1d`, same radius) and
    the same replicate border (``BORDER_REPLICATE`` repeats the edge pixel,
    as the padding does); OpenCV's SIMD row and column filters run 3-5x
    faster on CPU than torch's depthwise convolutions of the same taps
    (README, "Speed").
    """
    import cv2
    k = _level_kernel_numpy(sigma, kernel_size)
    out = cpu_exec.scratch_plane(*plane.shape)
    cv2.sepFilter2D(plane, -1, k, k, dst=out,
                    borderType=cv2.BORDER_REPLICATE)
    return torch.from_numpy(out)


def sigma_to_level(sigma: Tensor) -> Tensor:
    """Continuous level coordinate ``u`` of :data:`SIGMA_LEVELS` (level k at
    ``u == k``): ``sigma / s1`` below the first level, ``1 + log(sigma/s1) /
    log(ratio)`` above. Clamped to ``[0, SIGMA_NUM_LEVELS - 1]``.

    """
    s1 = SIGMA_FIRST_LEVEL
    if sigma.requires_grad:
        below = sigma / s1
        above = 1.0 + torch.log(torch.clamp(sigma, min=s1) / s1) / _LOG_RATIO
        u = torch.where(sigma < s1, below, above)
        return u.clamp(0.0, SIGMA_NUM_LEVELS - 1)
    # Without autograd, the same function as min(sigma / s1, 1) +
    # log(max(sigma, s1) / s1) / log(ratio) (each term is 0 or 1 where the
    # other applies), in place: no mask, no where, and two fresh full-size
    # tensors instead of eight (each costs about a pass in page faults).
    linear = (sigma * (1.0 / s1)).clamp_(max=1.0)
    log = torch.clamp(sigma, min=s1).mul_(1.0 / s1).log_()
    return log.mul_(1.0 / _LOG_RATIO).add_(linear).clamp_(
        0.0, SIGMA_NUM_LEVELS - 1)


def _clamped_planes(sigma: Tensor) -> Tensor:
    """``sigma`` (B, h, w, C) clamped to ``[0, SIGMA_MAX]``, as contiguous
    (B, C, h, w) planes: the layout the OpenCV blur filters and blends
    each channel in (:func:`_blend_channels_cv2`), so that the level map
    made from it needs no layout change (and its max is a contiguous
    reduction: ~5x faster than of a strided view, measured)."""
    planes = torch.empty(sigma.shape[0], sigma.shape[3], *sigma.shape[1:3],
                         dtype=sigma.dtype)
    return torch.clamp(sigma.permute(0, 3, 1, 2), 0.0, SIGMA_MAX,
                       out=planes)


#: Tiles (rows, columns) of the OpenCV paths. The whole-image path's blur
#: (:func:`_local_blur_opencv`) and colour affine work on bands of at most
#: 180 rows by at most 1280 columns (720 rows: 4 equal bands); the tiled
#: translation (:func:`_translate_opencv`: 4K) on tiles of at most
#: 270x1280 (4K: 8 x 3 tiles). Each level box costs a few calls that hand
#: Python's GIL between the tile threads, so on two threads fewer, larger
#: tiles pay even though their boxes filter more pixels, up to where
#: their passes leave the cache (measured on the Zen 3 VM, paired rounds,
#: two threads, docs/speed.md): 720x1280 in 4 bands of 180 against 6 of
#: 120, 0.90-0.93x the time for typical, full-range, trained-bundle and
#: identity parameters (0.96-1.02x on one thread); 4K in 270x1280 tiles
#: against 256x640, 0.76-0.96x (540x1280: 1.09-1.26x). The tiled
#: translation redoes the colour affine on each tile's blur margin, so its
#: tiles are taller. Wider images are cut into columns as well as rows, so
#: a tile's temporaries (~3-4 MB each) stay cache-sized whatever the width
#: (full-width 128-row bands made the 4K level blending 16x slower than at
#: 720x1280 for 9x the pixels).
_BLUR_TILE = (180, 1280)
_TRANSLATE_TILE = (270, 1280)
#: translate() without autograd on the CPU goes image by image
#: (_translate_opencv; tile by tile for an image above this) once a batch
#: is larger than this: its temporaries would pass glibc's largest mmap
#: threshold (32 MiB), above which every call pays a page fault per 4 KiB
#: (measured: 4K images at 17x the 720x1280 time instead of 9x, batches of
#: 8 at twice the time per image). Below it, whole-image temporaries are
#: recycled by the allocator and whole-image passes are faster.
_WHOLE_IMAGE_MAX_BYTES = 32 << 20


def _level_range(u: Tensor) -> Tuple[int, int]:
    """The first and last level the hat weights of ``u`` can touch."""
    return _levels_between(*(float(v) for v in torch.aminmax(u.detach())))


def _levels_between(u_min: float, u_max: float) -> Tuple[int, int]:
    """:func:`_level_range` from the bounds of ``u`` (the tiles know them
    already: one pass over ``u`` instead of two)."""
    lo = min(int(math.floor(u_min)), SIGMA_NUM_LEVELS - 2)
    hi = max(lo + 1, min(int(math.ceil(u_max)), SIGMA_NUM_LEVELS - 1))
    return lo, hi


def _blend_levels_into(out: Tensor, x: Tensor, u: Tensor, level_on_box,
                       boxes: Optional[list] = None) -> None:
    """Without autograd: ``out`` = the levels of ``x`` blended at ``u``,
    level by level: ``out = lerp(out, L_k, clamp(u - (k - 1), 0,
    1))`` from ``out = x`` (level 0) leaves ``L_k`` where ``u >= k``, the
    lerp of ``L_{k-1}`` and ``L_k`` where ``k - 1 <= u < k`` and the
    earlier value below: the hat weights' interpolation in 3 in-place
    passes over memory per level.

    Level ``k`` only matters where ``k - 1 < u < k + 1`` (below, its weight
    is 0; above, level ``k + 1`` overwrites it with weight 1), so each level
    is filtered and blended on the box of rows and columns whose ``u``
    range meets that interval (``boxes``, else :func:`_level_boxes` of
    ``u``): at 4K a tile spans a few of the 96x160 parameter cells and most
    levels cover part of it. ``level_on_box(sigma, (r0, r1, c0, c1))`` is
    the level ``sigma`` of ``x`` on that box of ``out``'s pixels.
    """
    out.copy_(x)
    for k, (r0, r1, c0, c1) in _level_boxes(u) if boxes is None else boxes:
        ramp = torch.sub(u[:, r0:r1, c0:c1], k - 1).clamp_(0.0, 1.0)
        out[:, r0:r1, c0:c1].lerp_(
            level_on_box(SIGMA_LEVELS[k], (r0, r1, c0, c1)), ramp)


def _level_boxes(u: Tensor) -> List[Tuple[int, Tuple[int, int, int, int]]]:
    """``(k, (r0, r1, c0, c1))`` for each level ``k >= 1`` that some pixel
    of ``u`` (B, h, w, C) needs: the rows and columns whose range of
    ``u`` meets ``(k - 1, k + 1)``. A pixel in that interval has its row's
    and column's ranges meet it, so the box holds every pixel that needs
    the level (and maybe some that do not, which the blend leaves as they
    would be anyway)."""
    # Columns: over the rows first (along contiguous memory), then the
    # small rest; amin((0, 1, 3)) in one call is ~30x slower (measured).
    # One copy to the host (one synchronisation on a GPU), in float32:
    # numpy has no bfloat16.
    height = u.shape[1]
    ranges = torch.cat([u.amin((0, 2, 3)), u.amax((0, 2, 3)),
                        u.amin(1).amin((0, 2)), u.amax(1).amax((0, 2))])
    return _boxes_of_ranges(*np.split(
        ranges.float().cpu().numpy(),
        [height, 2 * height, 2 * height + u.shape[2]]))


def _plane_level_boxes(u: Tensor) -> list:
    """:func:`_level_boxes` of every plane of ``u`` (B, C, h, w, float32
    on the CPU): ``boxes[i][c]`` are plane ``(i, c)``'s, from one torch
    reduction per bound for all planes (torch.aminmax along one
    dimension is ~30x slower than amin and amax, measured)."""
    height = u.shape[2]
    ranges = torch.cat([u.amin(3), u.amax(3), u.amin(2), u.amax(2)],
                       2).numpy()
    cuts = [height, 2 * height, 2 * height + u.shape[3]]
    return [[_boxes_of_ranges(*np.split(plane, cuts)) for plane in image]
            for image in ranges]


def _boxes_of_ranges(row_min: np.ndarray, row_max: np.ndarray,
                     col_min: np.ndarray, col_max: np.ndarray) -> list:
    """The boxes of :func:`_level_boxes` from the ``u`` range of each row
    and column, for all levels at once."""
    k = np.arange(1, SIGMA_NUM_LEVELS, dtype=np.float32)[:, None]
    rows = (row_min < k + 1) & (row_max > k - 1)  # (levels, rows)
    cols = (col_min < k + 1) & (col_max > k - 1)
    r0, c0 = rows.argmax(1), cols.argmax(1)
    r1 = rows.shape[1] - rows[:, ::-1].argmax(1)
    c1 = cols.shape[1] - cols[:, ::-1].argmax(1)
    return [(j + 1, (int(r0[j]), int(r1[j]), int(c0[j]), int(c1[j])))
            for j in np.flatnonzero(rows.any(1) & cols.any(1))]


def _cv2_level_on_box(plane: np.ndarray, rows: slice, cols: slice,
                      kernel_size: int):
    """``level_on_box`` of :func:`_blend_levels_into` for a tile at
    ``plane[rows, cols]`` of one (H, W) plane: each box is filtered on
    itself plus the level's radius (:func:`_margin_box`) and returned as a
    (1, h, w, 1) view of a kept buffer (:func:`_blur_plane_cv2`). ``plane``
    must reach the image's own edges or extend the largest level's radius
    beyond the tile, so that the replicate border only meets the image's
    edges."""
    height, width = plane.shape

    def level_on_box(sigma: float, box) -> Tensor:
        r0, r1, c0, c1 = box
        (t0, t1, l0, l1), (rr, cc) = _margin_box(
            (rows.start + r0, rows.start + r1, cols.start + c0,
             cols.start + c1), _level_radius(sigma, kernel_size), height,
            width)
        return _blur_plane_cv2(plane[t0:t1, l0:l1], sigma,
                               kernel_size)[None, rr, cc, None]

    return level_on_box


def _blend_channels_cv2(out: Tensor, src: Tensor, rows: slice, cols: slice,
                        u: Tensor, kernel_size: int) -> None:
    """The OpenCV blur of one tile: ``out`` (B, h, w, C) = the levels of
    ``src[:, rows, cols]`` blended at ``u`` (B, h, w, C), image by image
    and channel by channel (:func:`_blend_levels_into`, whose filters read
    ``src`` around the tile: see :func:`_cv2_level_on_box`).

    Each channel has its own sigma, so its own level boxes: on separate
    planes a level costs only the channels that need it there (counted on
    the demo bundle's parameters: 58% of the filtered pixels of boxes
    shared by the three channels at 720x1280, 44% at 4K). Image by image,
    so that an image of a batch comes out bit for bit as translated alone
    (OpenCV's filters round the last bit by where a box starts)."""
    planes = cpu_exec.planes(src).numpy()  # (B, C, H, W)
    u_planes = u.permute(0, 3, 1, 2).contiguous()  # free for planes' views
    blended = torch.empty_like(u_planes)
    for i, image_boxes in enumerate(_plane_level_boxes(u_planes)):
        for c, boxes in enumerate(image_boxes):
            plane = planes[i, c]
            _blend_levels_into(blended[i, c, :, :, None][None],
                               torch.from_numpy(plane)[None, rows, cols,
                                                       None],
                               u_planes[i, c, :, :, None][None],
                               _cv2_level_on_box(plane, rows, cols,
                                                 kernel_size), boxes)
    cpu_exec.planes_into(out, blended)


def _margin_box(box: Tuple[int, int, int, int], margin: int, height: int,
                width: int):
    """A tile grown by ``margin`` pixels (inside the image), and where the
    tile sits in it: (t0, t1, l0, l1), (rows, cols) slices. Filtering the
    grown tile gives the tile's pixels exactly as on the whole image:
    OpenCV's replicate border is then only reached at the image's edges."""
    top, bottom, left, right = box
    t0, t1 = max(0, top - margin), min(height, bottom + margin)
    l0, l1 = max(0, left - margin), min(width, right + margin)
    return (t0, t1, l0, l1), (slice(top - t0, bottom - t0),
                              slice(left - l0, right - l0))


def _local_blur_opencv(x: Tensor, sigma: Tensor, kernel_size: int,
                       out: Optional[Tensor] = None,
                       finish: Optional[Callable] = None) -> Tensor:
    """The no-autograd CPU path of the blur, tile by tile
    (:func:`cpu_exec.run_tiles`): ``x`` (B, H, W, C) blurred at ``sigma``
    (B, H, W, C, any strides). Each tile makes its own level map (in cache,
    on the pool's threads, in the planes layout its blend reads).

    Each tile filters and blends each level only on the box of its pixels
    that need it (:func:`_blend_levels_into`: a tile whose sigma spans 1-2
    levels pays for 2, not for the image's whole range), and its passes
    over memory stay in cache. A box is filtered on itself plus its level's
    radius (:func:`_margin_box`), so every pixel equals the whole-image
    computation's. ``out``: where to write the result (B, H, W, C), else a
    new tensor. ``finish(tile, rows, cols)``: what to do to each tile of
    ``out`` once blurred (on the tile's thread, while it is in cache).
    """
    out = torch.empty_like(x) if out is None else out
    height, width = x.shape[1:3]

    def work(top: int, bottom: int, left: int, right: int) -> None:
        # The tile and the widest level's margin around it (inside the
        # image): what its filters read.
        (t0, t1, l0, l1), (rows, cols) = _margin_box(
            (top, bottom, left, right), _level_radius(SIGMA_MAX, kernel_size),
            height, width)
        u = sigma_to_level(_clamped_planes(
            sigma[:, top:bottom, left:right])).permute(0, 2, 3, 1)
        tile = out[:, top:bottom, left:right]
        _blend_channels_cv2(tile, x[:, t0:t1, l0:l1], rows, cols, u,
                            kernel_size)
        if finish is not None:
            finish(tile, slice(top, bottom), slice(left, right))

    cpu_exec.run_tiles(height, width, _BLUR_TILE, work)
    return out


def _translate_opencv(img: Tensor, params: Tensor, noise: Optional[Tensor],
                      clamp: bool, color_space: str,
                      mean_colour: Optional[Tensor] = None) -> Tensor:
    """:func:`translate` without autograd on the CPU for a batch larger
    than :data:`_WHOLE_IMAGE_MAX_BYTES`, image by image (side by side on
    the thread pool), so that no temporary is batch-sized: each image
    through the whole-image path when it fits under that limit (a batch of
    720x1280 images), else tile by tile (:func:`_translate_opencv_one`:
    4K). Temporaries beyond the limit
    cost a page fault per 4 KiB on every call (README, "Speed").
    """
    bsz, _, height, width = img.shape
    out = cpu_exec.recycled_output((bsz, height, width, 3))
    if noise is not None:
        noise = noise.to(torch.float32).expand(bsz, -1, -1, -1)
    whole = img[:1].numel() * img.element_size() <= _WHOLE_IMAGE_MAX_BYTES

    def translate_image(i: int) -> None:
        args = (img[i:i + 1], params[min(i, params.shape[0] - 1)][None],
                None if noise is None else noise[i:i + 1], clamp,
                color_space)
        mask = None if mean_colour is None else \
            mean_colour[min(i, mean_colour.shape[0] - 1)][None]
        if whole:
            _translate_whole(*args[:3], 'fast', *args[3:], out[i:i + 1],
                             mean_colour=mask)
        else:
            _translate_opencv_one(*args, out[i:i + 1], mean_colour=mask)

    # The images side by side on the thread pool, each on one thread from
    # start to end (its tiles and kernels in that thread): no hand-off
    # between the steps of an image, and its temporaries in that thread's
    # kept buffers. A batch of 8 at 720x1280: 0.76x the time of one image
    # after the other (paired rounds, 2 threads), 0.81x eight single calls.
    cpu_exec.on_pool(list(range(bsz)), translate_image)
    return out.permute(0, 3, 1, 2)


def _translate_opencv_one(img: Tensor, params: Tensor,
                          noise: Optional[Tensor], clamp: bool,
                          color_space: str, out: Tensor,
                          mean_colour: Optional[Tensor] = None) -> None:
    """One image of :func:`_translate_opencv`, tile by tile, into ``out``
    (1, H, W, 3): the same steps as :func:`_translate_whole` (parameter
    upsampling, :func:`color_affine`, the blended blur levels, noise,
    clamp) on one tile (:func:`cpu_exec.tiles`) at a time. The parameter map is
    interpolated along x once (OpenCV, at its low height) and along y per
    tile (the half-pixel bilinear weights of :func:`upsample_params`);
    each tile's colour affine covers the tile plus the margin of its
    widest blur level, so its blur sees real neighbours."""
    height, width = img.shape[-2:]
    if noise is not None:
        noise = noise.permute(0, 2, 3, 1)
    sl = PARAM_SLICES

    def x_interpolated(first: slice, second: slice) -> Tensor:
        # (1, h, 2, W, 3): the x-interpolated rows of two 3-channel groups
        # of the low-res map, each row's two groups side by side, so that
        # a tile interpolates the rows of both in one pass and each group
        # of its pixels is a (1, rows, cols, 3) view with contiguous
        # pixels. Element-wise passes over 3 channels of 6-channel pixels
        # run ~3x slower (a 240x640 tile's noise `addcmul_`: 1.17 vs 0.41
        # ms, one thread, measured).
        maps = torch.empty(1, params.shape[-2], 2, width, 3)
        for i, group in enumerate((first, second)):
            _resize_opencv(params[:, group], (params.shape[-2], width),
                           out=maps[:, :, i])
        return maps

    colour_x = x_interpolated(sl['weight'], sl['bias'])  # w | b
    blur_noise_x = x_interpolated(sl['sigma'], sl['noise'])  # sigma | n
    if mean_colour is not None:  # w's and b's means: (2, 3)
        mean_wb = _mean_colour_affine(params).view(2, 3)

    def rows_of(maps: Tensor, t0: int, t1: int, l0: int, l1: int) -> Tensor:
        # Output rows between the same two low-res rows form runs (22 rows
        # each at 4K): one lerp of the two rows, broadcast over the run's
        # weights, writes each run in a single pass (gathering both rows
        # for every output row first took ~30x longer, measured).
        maps = maps[..., l0:l1, :]
        out = torch.empty(1, t1 - t0, 2, l1 - l0, 3, dtype=maps.dtype)
        for a, b, y0, y1, fy in _row_runs(params.shape[-2], height, t0,
                                          t1 - t0):
            torch.lerp(maps[:, y0:y0 + 1], maps[:, y1:y1 + 1], fy,
                       out=out[:, a:b])
        return out

    def work(top: int, bottom: int, left: int, right: int) -> None:
        sn = rows_of(blur_noise_x, top, bottom, left, right)  # sigma | n
        # sigma <= 0 is level 0 exactly: no blur, no level map to make.
        # The tile's sigma interpolates the x-interpolated rows it lies
        # between, so it is <= their max: where that is <= 0, the tile's
        # sigma planes need not be made (~12% of a 4K image without blur).
        runs = _row_runs(params.shape[-2], height, top, bottom - top)
        blur = float(blur_noise_x[0, runs[0][2]:runs[-1][3] + 1, 0,
                                  left:right].amax()) > 0.0
        if blur:
            sigma = _clamped_planes(sn[:, :, 0])
            blur = float(sigma.amax()) > 0.0
        margin = 0
        if blur:  # the radius of the widest level a pixel here can need
            u = sigma_to_level(sigma).permute(0, 2, 3, 1)
            margin = _level_radius(SIGMA_LEVELS[_levels_between(
                0.0, float(u.amax()))[1]], KERNEL_SIZE)
        # The colour affine over the tile plus the margin its blur reads;
        # the tile of the (NCHW) image is made channels-last here, so no
        # image-sized copy is ever made.
        (t0, t1, l0, l1), (rows, cols) = _margin_box(
            (top, bottom, left, right), margin, height, width)
        wb = rows_of(colour_x, t0, t1, l0, l1)
        if mean_colour is not None:
            _put_mean_colour_((wb[0, :, 0], wb[0, :, 1]), mean_wb,
                              mean_colour[0, 0, t0:t1, l0:l1])
        x_ext = cpu_exec.channels_last(img[:, :, t0:t1, l0:l1])
        rgb = color_affine(x_ext.permute(0, 3, 1, 2),
                           wb[:, :, 0].permute(0, 3, 1, 2),
                           wb[:, :, 1].permute(0, 3, 1, 2),
                           color_space).permute(0, 2, 3, 1).contiguous()
        tile = out[:, top:bottom, left:right]
        if blur:
            _blend_channels_cv2(tile, rgb, rows, cols, u, KERNEL_SIZE)
        else:
            tile.copy_(rgb[:, rows, cols])
        _noise_and_clamp_(tile, sn[:, :, 1], None if noise is None else
                          noise[:, top:bottom, left:right], clamp)

    cpu_exec.run_tiles(height, width, _TRANSLATE_TILE, work)


def _noise_and_clamp_(tile: Tensor, n: Tensor, noise: Optional[Tensor],
                      clamp: bool) -> None:
    """The last terms of Eq. 1 in place on a translated tile of the OpenCV
    paths (B, h, w, 3): ``+ n * N``, then the clamp to [0, 1]."""
    if noise is not None:
        tile.addcmul_(n, noise)
    if clamp:
        tile.clamp_(0.0, 1.0)


def _local_blur_fast(img: Tensor, sigma: Tensor, kernel_size: int
                     ) -> Tensor:
    # Work in (B, H, W, C) so that the filters and the weighting all run on
    # contiguous channels-last memory.
    # amax, not max: max() of a channels-last tensor takes a slow
    # generic kernel (~3x slower at 720x1280, measured).
    if not sigma.requires_grad and float(sigma.amax()) <= 0.0:
        return img  # sigma == 0 everywhere: exactly the identity
    x = img.permute(0, 2, 3, 1).contiguous()  # free for channels-last input
    if not sigma.requires_grad and _opencv_applies(x):
        return _local_blur_opencv(x, sigma.permute(0, 2, 3, 1).expand_as(x),
                                  kernel_size).permute(0, 3, 1, 2)
    u = sigma_to_level(sigma.clamp(0.0, SIGMA_MAX).permute(0, 2, 3, 1))
    u = u.expand_as(x)
    grad = x.requires_grad or u.requires_grad
    # torch's convolutions: autograd, other devices and dtypes.
    lo, hi = _level_range(u)
    pad = _level_radius(SIGMA_LEVELS[hi], kernel_size)
    padded = _replicate_pad_nhwc(x, pad)

    def blur_level(s):
        return _blur_fixed(padded, pad, s, kernel_size)

    if not grad:
        def level_on_box(s, box):  # whole levels: a box would be a copy
            r0, r1, c0, c1 = box
            return _blur_fixed(padded, pad, s, kernel_size)[:, r0:r1, c0:c1]

        out = torch.empty_like(x)
        _blend_levels_into(out, x, u, level_on_box)
        return out.permute(0, 3, 1, 2)
    # Linear interpolation between the two levels around u as a sum of hat
    # weights over the levels, each level consumed as soon as it is made (no
    # level stack, no per-pixel gather), with lerp's one-sided derivative at
    # the levels: |u - k| has zero slope at u == k, which would freeze sigma
    # at 0 (where the KPN starts).
    idx = torch.floor(u.detach()).clamp_(max=SIGMA_NUM_LEVELS - 2)
    frac = u - idx
    out = None
    for k in range(lo, hi + 1):
        s = SIGMA_LEVELS[k]
        level = x if s == 0 else blur_level(s)
        weight = torch.where(idx == k, 1.0 - frac,
                             torch.where(idx == k - 1, frac, 0.0))
        out = level * weight if out is None else out + level * weight
    return out.permute(0, 3, 1, 2)


def _local_blur_exact(img: Tensor, sigma: Tensor, kernel_size: int,
                      max_chunk_bytes: int) -> Tensor:
    """Per-pixel kernels, applied by unfolding: the definition itself.

    Slow; memory is bounded by processing a band of rows at a time.
    """
    bsz, c, h, w = img.shape
    r = kernel_size // 2
    sigma = sigma.clamp(0.0, SIGMA_MAX).expand(bsz, c, h, w)
    padded = F.pad(img, (r, r, r, r), mode='replicate')
    per_row = w * c * bsz * kernel_size * kernel_size * img.element_size()
    rows = max(1, int(max_chunk_bytes // max(per_row, 1)))
    out = []
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        band = padded[:, :, y0:y1 + 2 * r]
        # (B, C, rows, W, K, K): the K x K neighbourhood of every pixel.
        patches = band.unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)
        k = gaussian_kernel1d(sigma[:, :, y0:y1], kernel_size)
        out.append(torch.einsum('bchwij,bchwi,bchwj->bchw', patches, k, k))
    return torch.cat(out, dim=2)


def local_gaussian_blur(img: Tensor,
                        sigma: Tensor,
                        kernel_size: int = KERNEL_SIZE,
                        mode: str = 'fast',
                        max_chunk_bytes: int = 64 << 20) -> Tensor:
    """Blur every pixel and channel with its own Gaussian (paper Eq. 2).

    The kernel of pixel i is ``exp(-(x^2 + y^2) / (2 sigma_i^2))`` on a
    ``kernel_size`` x ``kernel_size`` support, normalised to sum 1; the border
    is replicated. ``sigma == 0`` is exactly the identity. Sigma is clamped to
    ``[0, SIGMA_MAX]``.

    ``mode='fast'`` filters the image at the fixed :data:`SIGMA_LEVELS` that
    occur (separable, depthwise) and blends the two levels around each
    pixel's sigma: <= 0.025 error on any pixel, ~1e-4 mean on natural images.
    ``mode='exact'`` builds every pixel's kernel (the test oracle; slow).
    Both are differentiable in ``img`` and ``sigma``.

    Args:
        img: (B, C, H, W) float tensor.
        sigma: (B, C, H, W) or (B, 1, H, W) per-pixel standard deviations.
        kernel_size: odd support size (25 in the paper).
        mode: ``'fast'`` or ``'exact'``.
        max_chunk_bytes: memory bound of the exact mode's unfold.

    Returns:
        (B, C, H, W) tensor.

    Example:
        >>> img = torch.rand(1, 3, 32, 48)
        >>> out = local_gaussian_blur(img, torch.zeros(1, 1, 32, 48))
        >>> torch.equal(out, img)
        True
    """
    _check_blur_args(img, sigma, kernel_size)
    if mode == 'fast':
        if kernel_size != KERNEL_SIZE:
            # The level table was tuned for the paper's support.
            raise ValueError(f'fast mode supports kernel_size={KERNEL_SIZE} '
                             f'only, got {kernel_size}; use mode="exact"')
        sigma = sigma.expand(img.shape[0], img.shape[1], -1, -1)
        return _local_blur_fast(img, sigma, kernel_size)
    if mode == 'exact':
        return _local_blur_exact(img, sigma, kernel_size, max_chunk_bytes)
    raise ValueError(f"mode must be 'fast' or 'exact', got {mode!r}")


# ------------------------------------------------------------ parameters


def _bilinear_axis(n_in: int, n_out: int, start: int, count: int,
                   like: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Source indices and weights of output positions ``start ..
    start + count - 1`` along one axis of a bilinear ``n_in -> n_out``
    resize with half-pixel centres (``align_corners=False``); positions
    outside ``[0, n_out)`` replicate the border."""
    scale = n_in / n_out
    out_idx = torch.arange(start, start + count, device=like.device,
                           dtype=torch.float64).clamp(0, n_out - 1)
    pos = ((out_idx + 0.5) * scale - 0.5).clamp(min=0.0)
    i0 = pos.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (pos - i0).to(like.dtype)


@functools.lru_cache(maxsize=256)
def _row_runs(n_in: int, n_out: int, start: int, count: int
              ) -> Tuple[Tuple[int, int, int, int, Tensor], ...]:
    """The rows ``start .. start + count - 1`` of a bilinear ``n_in ->
    n_out`` float32 CPU resize along y (:func:`_bilinear_axis`) as runs of
    rows between the same two source rows: ``(a, b, y0, y1, weights)``,
    rows ``a:b`` of the window, ``weights`` (b - a, 1, 1, 1). Made once per
    window (the tiles of a band, and every image of a size, share theirs:
    ~0.2 ms of small torch calls each time otherwise); read-only."""
    y0, y1, fy = _bilinear_axis(n_in, n_out, start, count,
                                torch.empty(0, dtype=torch.float32))
    first, second = y0.tolist(), y1.tolist()
    starts = [i for i in range(count)
              if i == 0 or first[i] != first[i - 1]] + [count]
    return tuple((a, b, first[a], second[a], fy[a:b].view(-1, 1, 1, 1))
                 for a, b in zip(starts[:-1], starts[1:]))


def upsample_params(params: Tensor,
                    size: Tuple[int, int],
                    crop: Optional[Tuple[int, int, int, int]] = None
                    ) -> Tensor:
    """Bilinearly upsample a low-res parameter map to ``size``.

    Same sampling as ``F.interpolate(..., mode='bilinear',
    align_corners=False)``. With ``crop=(top, left, height, width)`` only
    that window of the full-size map is computed, with the same arithmetic
    per pixel as the whole map, so patch training sees exactly the
    parameters that whole-image translation would use. A window may extend
    beyond the map: outside rows/columns replicate the border (like the
    blur's replicate padding), so a patch with its blur margin can sit at
    the image edge.

    Args:
        params: (B, P, h, w) tensor.
        size: full output size (H, W).
        crop: optional window of the (H, W) map.

    Returns:
        (B, P, H, W), or (B, P, height, width) with ``crop``.
    """
    if params.dim() != 4:
        raise ValueError(f'params must be (B, P, h, w), got '
                         f'{tuple(params.shape)}')
    out_h, out_w = int(size[0]), int(size[1])
    top, left, ch, cw = (0, 0, out_h, out_w) if crop is None else crop
    if ch <= 0 or cw <= 0 or top >= out_h or left >= out_w or \
            top + ch <= 0 or left + cw <= 0:
        raise ValueError(f'crop {crop} does not overlap the {size} map')
    in_h, in_w = params.shape[-2:]
    inside = top >= 0 and left >= 0 and top + ch <= out_h and \
        left + cw <= out_w
    if (in_h, in_w) == (out_h, out_w) and inside:
        return params[..., top:top + ch, left:left + cw]
    if crop is None:
        # Same sampling as below, but these kernels are ~15x faster.
        if _opencv_applies(params):
            return _resize_opencv(params, (out_h, out_w))
        return F.interpolate(params, size=(out_h, out_w), mode='bilinear',
                             align_corners=False)

    y0, y1, fy = _bilinear_axis(in_h, out_h, top, ch, params)
    x0, x1, fx = _bilinear_axis(in_w, out_w, left, cw, params)
    # Rows first (on the small map), then columns.
    r0 = params.index_select(2, y0)
    rows = torch.lerp(r0, params.index_select(2, y1), fy.view(-1, 1))
    c0 = rows.index_select(3, x0)
    return torch.lerp(c0, rows.index_select(3, x1), fx)


def translate(img: Tensor,
              params: Tensor,
              noise: Optional[Tensor] = None,
              blur_mode: str = 'fast',
              clamp: bool = True,
              color_space: str = 'ycbcr',
              mean_colour: Optional[Tensor] = None) -> Tensor:
    """Apply the DA-KPN translation (Eq. 1) to a batch of RGB images.

    ``T(p) = n * N + k_sigma * (w * p + b)`` where ``w * p + b`` acts in
    ``color_space`` (:func:`color_affine`; ``'hsv'`` is the paper's, the
    default ``'ycbcr'``) and ``k_sigma`` is
    :func:`local_gaussian_blur`.

    Args:
        img: (B, 3, H, W) RGB float in [0, 1], any H and W.
        params: (B, 12, h, w) activated parameters in the order
            ``[w_hsv | b_hsv | sigma_rgb | n_rgb]`` at any resolution; they
            are upsampled bilinearly to (H, W). Sigma is clamped to
            ``[0, SIGMA_MAX]``.
        noise: (B or 1, 3, H, W) noise field N, or None for no noise term.
        blur_mode: ``'fast'`` or ``'exact'`` (see :func:`local_gaussian_blur`).
        clamp: clamp the result to [0, 1].
        color_space: ``'hsv'`` or ``'ycbcr'`` (see the module docstring).
        mean_colour: (B, 1, H, W) bool, or None: pixels where it is True
            take the image's mean colour affine (``w`` and ``b`` averaged
            over the parameter map) instead of their own; blur and noise
            stay theirs. For pixels whose parameters are known to be
            another class's (:func:`label_guidance_mask`).

    Returns:
        (B, 3, H, W) translated images.

    Example:
        >>> img = torch.rand(2, 3, 37, 53)
        >>> out = translate(img, identity_params(2, (12, 20)))
        >>> bool((out - img).abs().max() < 1e-6)
        True
    """
    _check_image(img)
    if params.dim() != 4 or params.shape[1] != NUM_PARAMS or \
            params.shape[0] not in (1, img.shape[0]):
        raise ValueError(f'params must be (B, 12, h, w) with B = '
                         f'{img.shape[0]}, got {tuple(params.shape)}')
    if noise is not None and (noise.dim() != 4 or noise.shape[1] != 3 or
                              noise.shape[-2:] != img.shape[-2:]):
        raise ValueError(f'noise must be (B, 3, H, W) like the image, '
                         f'got {tuple(noise.shape)}')
    if mean_colour is not None and (
            mean_colour.dtype != torch.bool or mean_colour.dim() != 4 or
            mean_colour.shape[1] != 1 or
            mean_colour.shape[-2:] != img.shape[-2:] or
            mean_colour.shape[0] not in (1, img.shape[0])):
        raise ValueError('mean_colour must be a (B, 1, H, W) bool mask like '
                         f'the image, got {tuple(mean_colour.shape)} '
                         f'{mean_colour.dtype}')
    params = params.to(dtype=img.dtype, device=img.device)
    if blur_mode == 'fast' and _opencv_applies(img) and \
            not params.requires_grad and \
            (noise is None or not noise.requires_grad) and \
            img.numel() * img.element_size() > _WHOLE_IMAGE_MAX_BYTES:
        return _translate_opencv(img, params, noise, clamp, color_space,
                                 mean_colour)
    return _translate_whole(img, params, noise, blur_mode, clamp,
                            color_space, mean_colour=mean_colour)


def _with_mean_colour(wb: Tensor, mean_wb: Tensor, mask: Tensor) -> Tensor:
    """``wb`` (colour channels, any layout) where ``mask`` is False, the
    per-image ``mean_wb`` (broadcastable) where it is True."""
    return torch.where(mask, mean_wb, wb)


def _mean_colour_affine(params: Tensor) -> Tensor:
    """(B, 6): each image's ``w`` and ``b`` averaged over its parameter
    map, without autograd on the CPU, by numpy: a torch reduction of this
    size on the calling thread forks onto torch's OpenMP team, whose
    threads then spin on the cores the tile threads need (see
    :func:`_translate_bands`)."""
    sl = slice(PARAM_SLICES['weight'].start, PARAM_SLICES['bias'].stop)
    return torch.from_numpy(params[:, sl].numpy().mean(
        (2, 3), dtype=np.float64).astype(np.float32))


def _put_mean_colour_(maps: Sequence[Tensor], means: Sequence[Tensor],
                      mask: Tensor) -> None:
    """:func:`_with_mean_colour` in place, without autograd on the CPU:
    each of ``maps`` (h, w, 3 channels, any strides) takes its ``means``
    (3,) where ``mask`` (h, w) is True. Written through the mask's
    indices: ``torch.where`` over a channels-last map broadcasts the mask
    along its innermost dimension of 3, ~2 ns an element, 6.6x the time
    of finding the indices once and writing the masked pixels (a 180x1280
    band's two maps, 5% of the pixels masked, one thread: 3.0 ms against
    0.46, measured)."""
    where = tuple(torch.from_numpy(i) for i in np.nonzero(mask.numpy()))
    if where[0].numel():
        for m, mean in zip(maps, means):
            m[where] = mean


def label_guidance_mask(labels: Tensor, logits: Tensor) -> Tensor:
    """Pixels whose known class is not the one the encoder saw there.

    The parameters of a pixel come from the encoder's logits at low
    resolution, so a class it cannot resolve (a pole, a traffic sign: a
    pixel or two wide at 96x160) gets its surroundings' colour change:
    measured on the camera zoo, thin classes ended up further from the real
    camera's colours than untranslated. Where the label map is known (a
    synthetic image's own labels) those pixels can take the image's mean
    colour affine instead (``translate(mean_colour=...)``), the camera-wide
    part of the translation rather than a neighbour's class-specific one.

    Args:
        labels: (B, H, W) class indices of the encoder's classes at full
            resolution; values outside ``[0, K)`` (255: ignore) count as
            agreeing (they keep their own parameters).
        logits: (B, K, h, w) encoder logits.

    Returns:
        (B, 1, H, W) bool: label known and different from the encoder's
        class at that pixel (its low-res argmax, nearest neighbour).
    """
    if labels.dim() != 3 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f'labels must be (B, H, W) with B = '
                         f'{logits.shape[0]}, got {tuple(labels.shape)}')
    num_classes = logits.shape[1]
    # max's indices are argmax's (the first maximum, NaN included), ~3x
    # faster on the CPU over the channels of a (1, 19, 96, 160) map
    # (0.54 against 2.08 ms, two threads, measured).
    pred = logits.max(1).indices
    if num_classes <= 256:  # a quarter to an eighth of the memory traffic
        pred = pred.to(torch.uint8)
    # Nearest-exact upsampling as two gathers (source index
    # floor((i + 0.5) * in / out), as F.interpolate's 'nearest-exact'):
    # no float copy of the full-size map.
    (h, w), (height, width) = pred.shape[-2:], labels.shape[-2:]
    rows, cols = (((torch.arange(n, device=pred.device) + 0.5) * (m / n))
                  .floor_().clamp_(max=m - 1).long()
                  for n, m in ((height, h), (width, w)))
    pred = pred.index_select(1, rows).index_select(2, cols)
    labels = labels.to(pred.device)
    mask = (labels != pred) & (labels < num_classes)
    if labels.is_signed():
        mask &= labels >= 0
    return mask[:, None]


def _translate_whole(img: Tensor, params: Tensor, noise: Optional[Tensor],
                     blur_mode: str, clamp: bool, color_space: str,
                     out: Optional[Tensor] = None,
                     mean_colour: Optional[Tensor] = None) -> Tensor:
    """:func:`translate` on whole images (every device, autograd).
    ``out``: a (B, H, W, 3) slice of a batch's output the OpenCV path
    (:func:`_translate_bands`) writes into (no copy afterwards), else a
    new tensor."""
    # Every full-size tensor in channels-last memory: the colour matrices,
    # the blur's filters and every element-wise pass then read contiguous
    # memory, with no layout change in between (README, "Speed").
    cl = torch.channels_last
    # Without autograd on the CPU, the image's channels-last copy and the
    # parameter maps live in kept buffers (:func:`cpu_exec.scratch`): none of
    # them leaves this call.
    kept = _opencv_applies(img) and _opencv_applies(params)
    bands = kept and blur_mode == 'fast' and \
        (noise is None or not noise.requires_grad)
    if kept and params.shape[-2:] != img.shape[-2:]:
        w, b, sigma, n = (
            _resize_opencv(group, img.shape[-2:], slot=name)
            for name, group in zip(('w', 'b', 'sigma', 'n'),
                                   split_params(params)))
    else:
        w, b, sigma, n = (
            upsample_params(group.contiguous(), img.shape[-2:]).contiguous(
                memory_format=cl) for group in split_params(params))
    if bands:  # the image's rows made channels-last band by band
        return _translate_bands(img, params, (w, b, sigma, n), noise, clamp,
                                color_space, out, mean_colour)
    if kept and not img.is_contiguous(memory_format=cl):
        img = cpu_exec.channels_last(img, slot='image').permute(0, 3, 1, 2)
    img = img.contiguous(memory_format=cl)
    if mean_colour is not None:
        mean_colour = mean_colour.to(img.device)
        w = _with_mean_colour(w, params[:, PARAM_SLICES['weight']].mean(
            (2, 3), keepdim=True), mean_colour)
        b = _with_mean_colour(b, params[:, PARAM_SLICES['bias']].mean(
            (2, 3), keepdim=True), mean_colour)
    out = local_gaussian_blur(color_affine(img, w, b, color_space), sigma,
                              mode=blur_mode)
    in_place = not torch.is_grad_enabled() or not out.requires_grad
    if noise is not None:
        noise = noise.to(dtype=out.dtype, device=out.device)
        out = out.addcmul_(n, noise) if in_place else out + n * noise
    if not clamp:
        return out
    return out.clamp_(0.0, 1.0) if in_place else out.clamp(0.0, 1.0)


def _translate_bands(img: Tensor, params: Tensor, maps: Tuple[Tensor, ...],
                     noise: Optional[Tensor], clamp: bool, color_space: str,
                     out: Optional[Tensor] = None,
                     mean_colour: Optional[Tensor] = None) -> Tensor:
    """:func:`_translate_whole` without autograd on the CPU, every
    full-size step on the thread pool: the colour affine in bands of rows,
    then the blur in tiles (:func:`_local_blur_opencv`), each tile taking
    its noise and clamp as soon as it is blurred. ``maps``: the parameter
    maps ``w, b, sigma, n`` at the image's size (channels-last memory).

    Nothing full-size runs on the calling thread: a torch kernel there
    would fork onto torch's OpenMP team, whose threads then spin for a
    while after it (libgomp's default wait policy) on the cores the tile
    threads need (measured at 720x1280 on 2 cores, paired rounds against
    the same steps with the colour affine, noise and clamp as whole-image
    kernels on the calling thread: 0.84x / 0.92x / 0.89x the time,
    typical / full range / identity parameters)."""
    w, b, sigma, n = maps
    bsz, _, height, width = img.shape
    out = torch.empty(bsz, height, width, 3) if out is None else out
    if noise is not None:
        noise = noise.to(torch.float32).permute(0, 2, 3, 1)
    if mean_colour is not None:  # (B, 1, H, W), and (B, 2, 3)
        mean_colour = mean_colour.to(img.device)
        mean_wb = _mean_colour_affine(params).view(-1, 2, 3)
    # sigma <= 0 everywhere is exactly the identity: no blur. The maps are
    # bilinear in the parameters, so their bounds are the parameters'.
    blur = float(params[:, PARAM_SLICES['sigma']].numpy().max()) > 0.0
    # The colour affine's result: the blur's input, else the output.
    rgb = cpu_exec.scratch('rgb', tuple(out.shape)) if blur else out

    def finish(tile: Tensor, rows: slice, cols: slice) -> None:
        _noise_and_clamp_(tile, n.permute(0, 2, 3, 1)[:, rows, cols],
                          None if noise is None else noise[:, rows, cols],
                          clamp)

    def colour(band) -> None:
        rows = slice(band[0], band[1])
        x = img[:, :, rows]
        if not _opencv_transform_applies(x):  # an NCHW image's rows
            x = cpu_exec.channels_last(x, slot='image').permute(0, 3, 1, 2)
        wb, bb = w[:, :, rows], b[:, :, rows]
        # The maps are this call's own (resized into kept buffers, or
        # copies made by the layout changes above; only a 1x1 map can come
        # back as the caller's, and it is its own mean): the mean colour
        # goes into them in place.
        if mean_colour is not None:
            count = max(wb.shape[0], mean_colour.shape[0])
            if wb.shape[0] < count:  # one map for the batch, masks per image
                wb, bb = (m.expand(count, -1, -1, -1).clone(
                    memory_format=torch.channels_last) for m in (wb, bb))
            for i in range(count):
                _put_mean_colour_(
                    (wb[i].permute(1, 2, 0), bb[i].permute(1, 2, 0)),
                    mean_wb[min(i, mean_wb.shape[0] - 1)],
                    mean_colour[min(i, mean_colour.shape[0] - 1), 0, rows])
        color_affine(x, wb, bb, color_space,
                     out=rgb[:, rows].permute(0, 3, 1, 2))
        if not blur:
            finish(rgb[:, rows], rows, slice(None))

    # Without a blur, a small image's few bands cost more in hand-offs
    # between threads than they save: one band, on this thread (720x1280
    # identity: 0.89x the time in bands; 192x320: 2.3x, 360x640: 1.4x).
    bands = cpu_exec.tiles(height, width, (_BLUR_TILE[0], width))
    if not blur and len(bands) < 4:
        bands = [(0, height, 0, width)]
    cpu_exec.on_pool(bands, colour)
    if blur:
        _local_blur_opencv(rgb, sigma.permute(0, 2, 3, 1).expand_as(rgb),
                           KERNEL_SIZE, out, finish)
    return out.permute(0, 3, 1, 2)
