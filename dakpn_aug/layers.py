"""Thin ``nn.Module`` wrappers of :mod:`dakpn_aug.functional` (kornia style).

Each module only stores arguments and calls its function, so the function
and the module always agree.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn
from torch import Tensor

from . import functional as DF


class RgbToHsv(nn.Module):
    """Module form of :func:`~dakpn_aug.functional.rgb_to_hsv`."""

    def forward(self, rgb: Tensor) -> Tensor:
        return DF.rgb_to_hsv(rgb)


class HsvToRgb(nn.Module):
    """Module form of :func:`~dakpn_aug.functional.hsv_to_rgb`."""

    def forward(self, hsv: Tensor) -> Tensor:
        return DF.hsv_to_rgb(hsv)


class LocalGaussianBlur(nn.Module):
    """Module form of :func:`~dakpn_aug.functional.local_gaussian_blur`.

    Example:
        >>> blur = LocalGaussianBlur()
        >>> blur(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)).shape
        torch.Size([1, 3, 8, 8])
    """

    def __init__(self, kernel_size: int = DF.KERNEL_SIZE, mode: str = 'fast'):
        super().__init__()
        self.kernel_size = kernel_size
        self.mode = mode

    def forward(self, img: Tensor, sigma: Tensor) -> Tensor:
        return DF.local_gaussian_blur(img, sigma, self.kernel_size,
                                      self.mode)

    def extra_repr(self) -> str:
        return f'kernel_size={self.kernel_size}, mode={self.mode!r}'


class Translate(nn.Module):
    """Module form of :func:`~dakpn_aug.functional.translate` (Eq. 1).

    Example:
        >>> t = Translate()
        >>> img = torch.rand(1, 3, 16, 16)
        >>> t(img, DF.identity_params(1, (4, 4))).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, blur_mode: str = 'fast', clamp: bool = True):
        super().__init__()
        self.blur_mode = blur_mode
        self.clamp = clamp

    def forward(self, img: Tensor, params: Tensor,
                noise: Optional[Tensor] = None) -> Tensor:
        return DF.translate(img, params, noise=noise,
                            blur_mode=self.blur_mode, clamp=self.clamp)

    def extra_repr(self) -> str:
        return f'blur_mode={self.blur_mode!r}, clamp={self.clamp}'
