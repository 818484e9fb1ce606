"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions.

A 3x3 convolution (stride 1, padding 1) computed tile by tile: each 2x2
block of outputs is ``A^T [(G g G^T) * (B^T d B)] A`` of the 4x4 input
window ``d`` around it, where the kernel's transform ``G g G^T`` is made
once. The element-wise product over the 16 transformed positions is 16
matrix products (tiles x in channels) @ (in channels x out channels):
36 / 16 = 2.25x fewer multiplications than the direct convolution (Lavin
& Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
The transforms only add and subtract (B, A) or halve (G), so float32
results stay within ~1e-6 relative of the direct convolution's (tested).

The frozen encoder uses it for its long-reduction 3x3s on few pixels
(:class:`~dakpn_aug.models.encoder.BlasConv2d`), where the matrix
products are all the work.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: F(2x2, 3x3)'s kernel transform (Lavin & Gray, Eq. 7).
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: Tensor) -> Tensor:
    """(K, C, 3, 3) kernels -> their transforms ``G g G^T`` as (16, C, K),
    the right-hand sides of :func:`winograd_conv3x3`'s 16 products
    (computed in float64, returned in ``weight``'s dtype)."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f'F(2x2, 3x3) takes 3x3 kernels, got '
                         f'{tuple(weight.shape)}')
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum('ai,kcij,bj->abck', g, weight.detach().double(), g)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(
        weight.dtype).contiguous()


def _input_rows(x: Tensor, dim: int, windows: int) -> Tuple[Tensor, ...]:
    """``B^T`` along ``dim`` of ``x`` for ``windows`` windows of 4 at a
    stride of 2: the four transformed rows, each with ``windows`` entries
    along ``dim``."""
    def every_other(offset: int) -> Tensor:
        index = [slice(None)] * x.dim()
        index[dim] = slice(offset, offset + 2 * windows - 1, 2)
        return x[tuple(index)]

    d0, d1, d2, d3 = (every_other(o) for o in range(4))
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _output_rows(m: Tensor) -> Tuple[Tensor, Tensor]:
    """``A^T`` along the first dimension of ``m`` (4, ...)."""
    return m[0] + m[1] + m[2], m[1] - m[2] - m[3]


def winograd_conv3x3(x: Tensor, u: Tensor,
                     bias: Optional[Tensor] = None) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for 3x3 kernels, where
    ``u = winograd_weight(weight)``: ``x`` (N, C, H, W) -> (N, K, H, W),
    any H and W (odd sizes are padded to whole 2x2 tiles and cropped)."""
    n, c, h, w = x.shape
    if u.shape[:2] != (16, c):
        raise ValueError(f'transformed kernels {tuple(u.shape)} do not '
                         f'take {c} input channels')
    th, tw = (h + 1) // 2, (w + 1) // 2  # 2x2 output tiles
    # The padded input with channels innermost: every transform below is
    # then an element-wise pass over contiguous channel vectors.
    padded = F.pad(x, (1, 1 + 2 * tw - w, 1, 1 + 2 * th - h)).permute(
        0, 2, 3, 1).contiguous()
    v = x.new_empty(4, 4, n, th, tw, c)
    for i, rows in enumerate(_input_rows(padded, 1, th)):
        for j, window in enumerate(_input_rows(rows, 2, tw)):
            v[i, j] = window
    m = torch.bmm(v.view(16, n * th * tw, c), u).view(4, 4, n, th, tw, -1)
    y = x.new_empty(n, u.shape[2], th, 2, tw, 2)
    for i, rows in enumerate(_output_rows(m)):
        for j, tile in enumerate(_output_rows(rows)):
            y[:, :, :, i, :, j] = tile.permute(0, 3, 1, 2)
    y = y.view(n, -1, 2 * th, 2 * tw)[..., :h, :w].contiguous()
    return y if bias is None else y.add_(bias.view(1, -1, 1, 1))
