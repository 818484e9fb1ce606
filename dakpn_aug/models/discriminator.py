"""PatchGAN discriminator (Isola et al. 2017), as used by DA-KPN."""
from __future__ import annotations

from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == 'batch':
        return nn.BatchNorm2d(channels)
    if kind == 'instance':
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == 'none':
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got "
                     f'{kind!r}')


class PatchDiscriminator(BaseModule):
    """PatchGAN: a fully convolutional real/fake classifier of image patches.

    ``num_layers`` strided 4x4 convs (the paper: 3 layers, 64 features), a
    stride-1 conv, and a 1-channel output of logits (one per receptive field
    of 70x70 pixels for 3 layers). Inputs must be at least 24x24 pixels for
    3 layers.

    Args:
        in_channels: image channels.
        base_channels: features of the first layer (doubled per layer, up to
            8x).
        num_layers: strided conv layers.
        norm: ``'batch'``, ``'instance'`` or ``'none'``.

    Example:
        >>> d = PatchDiscriminator()
        >>> d(torch.rand(2, 3, 90, 160)).shape
        torch.Size([2, 1, 9, 18])
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 num_layers: int = 3,
                 norm: str = 'batch',
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Conv2d', std=0.02)):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.min_size = 3 * 2**num_layers
        layers = [
            nn.Conv2d(in_channels, base_channels, 4, 2, 1),
            nn.LeakyReLU(0.2, True)
        ]
        mult = 1
        for n in range(1, num_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [
                nn.Conv2d(base_channels * prev, base_channels * mult, 4,
                          stride, 1, bias=norm != 'batch'),
                _norm(norm, base_channels * mult),
                nn.LeakyReLU(0.2, True)
            ]
        layers.append(nn.Conv2d(base_channels * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) images in [0, 1] -> (B, 1, h, w) patch logits."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'expected (B, {self.in_channels}, H, W), got '
                             f'{tuple(x.shape)}')
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f'PatchDiscriminator needs inputs of at least '
                             f'{self.min_size}x{self.min_size}, got '
                             f'{tuple(x.shape[-2:])}')
        # Centre on 0: the paper feeds images in [0, 1]; the conv stack
        # trains better on zero-mean input.
        return self.model(x * 2.0 - 1.0)
