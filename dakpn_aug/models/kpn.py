"""The kernel prediction network: encoder class logits -> 12 parameters."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from ..functional import COLOR_SPACES, NUM_PARAMS, PARAM_SLICES, SIGMA_MAX


class _ClampBackIntoRange(torch.autograd.Function):
    """``clamp`` whose gradient never dies outside the range.

    Inside [lo, hi] (bounds included) the gradient passes as for clamp.
    Outside, it passes only when it points back into the range, so a value
    pushed below 0 (e.g. a noise scale the discriminator briefly disliked)
    can still come back instead of being stuck forever, and is never pushed
    further out.
    """

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (x, ) = ctx.saved_tensors
        # Gradient descent moves x by -grad: below lo only grad < 0 helps.
        keep = ((x >= ctx.lo) & (x <= ctx.hi)) | ((x < ctx.lo) & (grad < 0)) \
            | ((x > ctx.hi) & (grad > 0))
        return grad * keep, None, None


def bounded(x: Tensor, lo: float, hi: float) -> Tensor:
    """Clamp to [lo, hi] with gradients that lead back into the range."""
    return _ClampBackIntoRange.apply(x, lo, hi)


class KernelPredictionNet(BaseModule):
    """A 2D convolution from ``num_classes`` channels to the 12 parameters of
    Eq. 1 (paper section 3.3), initialised to the exact identity translation.

    Activations (the raw conv output ``r`` is 0 at initialisation):

    ========  =======================  ==================================
    channels  parameter                activation
    ========  =======================  ==================================
    0-2       HSV weight ``w``         ``bounded(1 + r, 0, w_max)``
    3-5       HSV bias ``b``           ``bounded(r, -b_max, b_max)``
    6-8       blur sigma (RGB)         ``bounded(r, 0, sigma_max)``
    9-11      noise scale ``n`` (RGB)  ``bounded(r, 0, noise_max)``
    ========  =======================  ==================================

    So at initialisation ``w = 1, b = 0, sigma = 0, n = 0``: the translation
    is the identity even with noise on. The clamps are :func:`bounded`: the
    gradient passes at the bounds and, outside them, whenever it points back
    into the range, so sigma and n can grow from 0 and never get stuck below
    it (the fast blur is differentiable at sigma = 0, see ``functional``).
    Sigma stays in the 25x25 support's range and n >= 0. (The authors' code
    initialised sigma = 1, which is a blur, not the identity.)

    Args:
        num_classes: encoder output channels (19 for Cityscapes).
        color_space: the space of the colour affine the parameters drive
            (``functional.color_affine``): ``'ycbcr'`` (default) or the
            paper's ``'hsv'``.
        kernel_size: spatial size of the conv (odd).
        input_transform: ``'logits'`` (paper) or ``'softmax'`` (class
            probabilities, scale-free).
        w_max, b_max, sigma_max, noise_max: parameter bounds.

    Example:
        >>> kpn = KernelPredictionNet(19)
        >>> kpn(torch.randn(2, 19, 96, 160)).shape
        torch.Size([2, 12, 96, 160])
    """

    def __init__(self,
                 num_classes: int = 19,
                 kernel_size: int = 3,
                 input_transform: str = 'logits',
                 w_max: float = 3.0,
                 b_max: float = 1.0,
                 sigma_max: float = SIGMA_MAX,
                 noise_max: float = 1.0,
                 color_space: str = 'ycbcr',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if input_transform not in ('logits', 'softmax'):
            raise ValueError("input_transform must be 'logits' or 'softmax', "
                             f'got {input_transform!r}')
        if color_space not in COLOR_SPACES:
            raise ValueError(f'color_space must be one of {COLOR_SPACES}, '
                             f'got {color_space!r}')
        if not 0 < sigma_max <= SIGMA_MAX:
            raise ValueError(f'sigma_max must be in (0, {SIGMA_MAX}]')
        self.num_classes = num_classes
        self.kernel_size = kernel_size
        self.input_transform = input_transform
        self.w_max = float(w_max)
        self.b_max = float(b_max)
        self.sigma_max = float(sigma_max)
        self.noise_max = float(noise_max)
        self.color_space = color_space
        self.conv = nn.Conv2d(num_classes, NUM_PARAMS, kernel_size,
                              padding=kernel_size // 2,
                              padding_mode='replicate')
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def init_weights(self):
        # mmengine calls this after building; identity is the only sane init
        # (a random init would translate before any training).
        if self.init_cfg is not None:
            super().init_weights()
        else:
            self.reset_to_identity()

    def raw(self, features: Tensor) -> Tensor:
        if features.dim() != 4 or features.shape[1] != self.num_classes:
            raise ValueError(f'expected (B, {self.num_classes}, h, w) '
                             f'features, got {tuple(features.shape)}')
        if self.input_transform == 'softmax':
            features = F.softmax(features, dim=1)
        return self.conv(features)

    def activate(self, raw: Tensor) -> Tensor:
        """Map raw conv outputs to parameters (see the class docstring)."""
        sl = PARAM_SLICES
        w = bounded(1.0 + raw[:, sl['weight']], 0.0, self.w_max)
        b = bounded(raw[:, sl['bias']], -self.b_max, self.b_max)
        sigma = bounded(raw[:, sl['sigma']], 0.0, self.sigma_max)
        n = bounded(raw[:, sl['noise']], 0.0, self.noise_max)
        return torch.cat((w, b, sigma, n), dim=1)

    def forward(self, features: Tensor) -> Tensor:
        """(B, num_classes, h, w) encoder logits -> (B, 12, h, w) params."""
        return self.activate(self.raw(features))

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, kernel_size='
                f'{self.kernel_size}, input_transform={self.input_transform!r}'
                f', w_max={self.w_max}, b_max={self.b_max}, sigma_max='
                f'{self.sigma_max}, noise_max={self.noise_max}, '
                f'color_space={self.color_space!r}')

    def config(self) -> dict:
        """JSON-able constructor arguments (stored in translator bundles)."""
        return dict(num_classes=self.num_classes,
                    kernel_size=self.kernel_size,
                    input_transform=self.input_transform, w_max=self.w_max,
                    b_max=self.b_max, sigma_max=self.sigma_max,
                    noise_max=self.noise_max, color_space=self.color_space)
