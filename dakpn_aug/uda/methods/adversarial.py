"""Output-space adversarial alignment (AdaptSegNet).

Tsai, Hung, Schulter, Sohn, Yang, Chandraker: "Learning to Adapt
Structured Output Space for Semantic Segmentation", CVPR 2018.

A fully convolutional discriminator looks at the segmenter's softmax
output (upsampled to the input size) and tells source from target; the
segmenter is trained to make its target outputs look like source outputs.
Multi-level: a second discriminator on the auxiliary head's output.

Differences from the paper, by design:
- the segmenter is any mmseg ``EncoderDecoder``; "multi-level" uses its
  first auxiliary head (the paper: DeepLabV2's conv4 classifier);
- the discriminator trains after the segmenter's step on the same,
  detached outputs (the paper's loop does the same work in a different
  order within one iteration);
- ``gan='ls'`` gives the least-squares loss the paper lists as an option.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...models.utils import set_requires_grad
from .base import UDA_METHODS, UDABatch, UDAMethod

SOURCE, TARGET = 0.0, 1.0  # AdaptSegNet's domain labels


class OutputDiscriminator(nn.Module):
    """AdaptSegNet's discriminator: five 4x4 stride-2 convs (64-128-256-512-1
    features for ``base_channels=64``), LeakyReLU 0.2, no normalisation,
    logits out.

    Example:
        >>> d = OutputDiscriminator(19, base_channels=8)
        >>> d(torch.rand(2, 19, 64, 64)).shape
        torch.Size([2, 1, 2, 2])
    """

    def __init__(self, num_classes: int, base_channels: int = 64):
        super().__init__()
        chans = [num_classes] + [base_channels * m for m in (1, 2, 4, 8)]
        layers: List[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(chans[-1], 1, 4, 2, 1))
        self.layers = nn.Sequential(*layers)
        self.min_size = 2**5

    def forward(self, prob: Tensor) -> Tensor:
        if min(prob.shape[-2:]) < self.min_size:
            raise ValueError(f'OutputDiscriminator needs inputs of at least '
                             f'{self.min_size}x{self.min_size}, got '
                             f'{tuple(prob.shape[-2:])}')
        return self.layers(prob)


def domain_loss(logits: Tensor, domain: float, gan: str) -> Tensor:
    """GAN loss of discriminator ``logits`` against a domain label."""
    target = torch.full_like(logits, domain)
    if gan == 'bce':
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(torch.sigmoid(logits), target)


def output_probs(logits: Tensor, size) -> Tensor:
    """Softmax of head logits, upsampled to the input ``size``."""
    logits = F.interpolate(logits, size=size, mode='bilinear',
                           align_corners=False)
    return logits.softmax(dim=1)


@UDA_METHODS.register_module()
class OutputAdversarial(UDAMethod):
    """Output-space adversarial alignment (AdaptSegNet, CVPR 2018).

    Args:
        weight: adversarial weight of the main output (paper: 0.001).
        aux_weight: adversarial weight of the auxiliary head's output for
            the multi-level variant (paper: 0.0002); None: single-level.
        base_channels: discriminator width (paper: 64).
        gan: ``'bce'`` (paper) or ``'ls'`` (least squares).
        net_name: attribute name of the discriminator on the wrapper (and
            key of its ``optim_wrapper``); the auxiliary one is
            ``net_name + '_aux'``.
        begin, end, warmup: schedule (see ``UDAMethod``).
    """

    name = 'adv'

    def __init__(self, weight: float = 0.001,
                 aux_weight: Optional[float] = None,
                 base_channels: int = 64, gan: str = 'bce',
                 net_name: str = 'discriminator', **schedule):
        super().__init__(weight=weight, **schedule)
        if gan not in ('bce', 'ls'):
            raise ValueError(f"gan must be 'bce' or 'ls', got {gan!r}")
        self.aux_weight = aux_weight
        self.base_channels = base_channels
        self.gan = gan
        self.net_name = net_name

    def _levels(self):
        levels = [(self.net_name, 'logits', self.weight)]
        if self.aux_weight is not None:
            levels.append((self.net_name + '_aux', 'aux_logits',
                           self.aux_weight))
        return levels

    def build_nets(self, model: nn.Module,
                   num_classes: int) -> Dict[str, nn.Module]:
        if self.aux_weight is not None and \
                not getattr(model, 'with_auxiliary_head', False):
            raise ValueError('OutputAdversarial(aux_weight=...) is the '
                             'multi-level variant: the segmentor needs an '
                             'auxiliary_head')
        return {name: OutputDiscriminator(num_classes, self.base_channels)
                for name, _, _ in self._levels()}

    @staticmethod
    def _logits(outputs: dict, key: str) -> Tensor:
        return outputs[key] if key == 'logits' else outputs[key][0]

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        # The segmenter fools the (frozen) discriminators on target images.
        scale = self.weight_at(batch.iteration) / max(self.weight, 1e-12)
        size = batch.target_inputs.shape[-2:]
        target = batch.target_outputs()
        losses = {}
        for name, key, weight in self._levels():
            disc = batch.nets[name]
            set_requires_grad(disc, False)
            d_out = disc(output_probs(self._logits(target, key), size))
            losses[f'loss_{name}'] = scale * weight * domain_loss(
                d_out, SOURCE, self.gan)
        return losses

    def after_segmentor_step(self, batch: UDABatch,
                             optim_wrapper) -> Dict[str, Tensor]:
        size = batch.target_inputs.shape[-2:]
        src, tgt = batch.source_outputs, batch.target_outputs()
        log = {}
        for name, key, _ in self._levels():
            disc = batch.nets[name]
            set_requires_grad(disc, True)
            ps = output_probs(self._logits(src, key).detach(), size)
            pt = output_probs(self._logits(tgt, key).detach(), size)
            optim = optim_wrapper[name]
            with optim.optim_context(disc):
                d_src, d_tgt = disc(ps), disc(pt)
                loss = 0.5 * (domain_loss(d_src, SOURCE, self.gan) +
                              domain_loss(d_tgt, TARGET, self.gan))
            optim.update_params(loss)
            with torch.no_grad():
                acc = 0.5 * ((d_src < 0).float().mean() +
                             (d_tgt > 0).float().mean())
            log[f'loss_{name}_d'] = loss.detach()
            log[f'{name}_acc'] = acc
        return log
