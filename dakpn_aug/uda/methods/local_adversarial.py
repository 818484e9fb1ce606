"""Local (pixel-level) adversarial alignment with a mixture module: the
second step of global-then-local alignment.

Global-local alignment (github skrya/globallocal; the repository holds no
code, the poster says: step one aligns outputs globally with the usual
output-space adversarial loss, step two aligns "semantically encoded local
outputs" with a local discriminator and a mixture module, which mitigates
noisy source background pixels). Where the source is silent, this module's
design, and why:

- **Local discriminator**: 1x1 convolutions over the softmax output, one
  domain logit per pixel. A pixel's verdict depends on that pixel's class
  distribution only, so what is aligned is each pixel's semantic output,
  not the image layout a 4x4-stride-2 global discriminator sees.
- **Mixture module**: the discriminator trains on *mixed* output maps:
  the source output where a ClassMix mask of half of the source image's
  classes is set, the target output elsewhere, with per-pixel domain labels.
  It cannot answer from image-level statistics: it must judge pixel by
  pixel. Source pixels count only where the segmenter is right about them
  (prediction == label, not ignored): misclassified and unlabelled source
  pixels -- the noisy background the poster names -- are given weight 0.
- **Segmenter**: its target pixels must look like source pixels to the
  (frozen) local discriminator, per pixel.
- **Schedule**: use it with ``begin=N`` after an ``OutputAdversarial`` with
  ``end=N`` (the config switches from step one to step two).
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...models.utils import set_requires_grad
from .adversarial import SOURCE, TARGET, output_probs
from .base import UDA_METHODS, UDABatch, UDAMethod
from .self_training import class_mix_masks


class LocalDiscriminator(nn.Module):
    """Per-pixel domain classifier: 1x1 convs ``C -> hidden -> hidden ->
    1``, LeakyReLU 0.2; a pixel's logit depends on that pixel only.

    Example:
        >>> LocalDiscriminator(19, 8)(torch.rand(2, 19, 5, 7)).shape
        torch.Size([2, 1, 5, 7])
    """

    def __init__(self, num_classes: int, hidden: int = 64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(num_classes, hidden, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden, 1, 1))

    def forward(self, prob: Tensor) -> Tensor:
        return self.layers(prob)


def reliable_source_pixels(logits: Tensor, labels: Tensor,
                           ignore_index: int = 255) -> Tensor:
    """(B, H, W) float: 1 where the source prediction equals the label."""
    pred = logits.argmax(dim=1)
    return ((pred == labels) & (labels != ignore_index)).float()


def mixture(src_prob: Tensor, tgt_prob: Tensor, mask: Tensor,
            src_weight: Tensor):
    """The mixture module: ``(mixed map, per-pixel domain labels, per-pixel
    weights)``; source where ``mask``, target elsewhere."""
    m = mask[:, None]
    mixed = torch.where(m, src_prob, tgt_prob)
    domain = torch.where(mask, torch.full_like(src_weight, SOURCE),
                         torch.full_like(src_weight, TARGET))
    weight = torch.where(mask, src_weight, torch.ones_like(src_weight))
    return mixed, domain, weight


@UDA_METHODS.register_module()
class LocalAdversarial(UDAMethod):
    """Local adversarial alignment with a mixture module (the second step
    of global-local alignment; see the module docstring for the design).

    Args:
        weight: adversarial weight of the segmenter (default as AdaptSegNet's
            main output, 0.001).
        hidden: local discriminator width.
        net_name: attribute name of the local discriminator (and key of its
            ``optim_wrapper``).
        begin, end, warmup: schedule (see ``UDAMethod``).
    """

    name = 'local_adv'

    def __init__(self, weight: float = 0.001, hidden: int = 64,
                 net_name: str = 'local_discriminator', **schedule):
        super().__init__(weight=weight, **schedule)
        self.hidden = hidden
        self.net_name = net_name

    def build_nets(self, model: nn.Module,
                   num_classes: int) -> Dict[str, nn.Module]:
        return {self.net_name: LocalDiscriminator(num_classes, self.hidden)}

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        disc = batch.nets[self.net_name]
        set_requires_grad(disc, False)
        size = batch.target_inputs.shape[-2:]
        d_out = disc(output_probs(batch.target_outputs()['logits'], size))
        loss = F.binary_cross_entropy_with_logits(
            d_out, torch.full_like(d_out, SOURCE))
        return {f'loss_{self.net_name}':
                self.weight_at(batch.iteration) * loss}

    def after_segmentor_step(self, batch: UDABatch,
                             optim_wrapper) -> Dict[str, Tensor]:
        disc = batch.nets[self.net_name]
        set_requires_grad(disc, True)
        labels = batch.source_labels()
        size = labels.shape[-2:]
        src_logits = batch.source_outputs['logits'].detach()
        src_prob = output_probs(src_logits, size)
        tgt_prob = output_probs(batch.target_outputs()['logits'].detach(),
                                size)
        reliable = reliable_source_pixels(
            F.interpolate(src_logits, size=size, mode='bilinear',
                          align_corners=False), labels)
        mask = class_mix_masks(labels, batch.generator)
        mixed, domain, weight = mixture(src_prob, tgt_prob, mask, reliable)
        optim = optim_wrapper[self.net_name]
        with optim.optim_context(disc):
            logits = disc(mixed)[:, 0]
            per_pixel = F.binary_cross_entropy_with_logits(
                logits, domain, reduction='none')
            loss = (per_pixel * weight).sum() / weight.sum().clamp(min=1.0)
        optim.update_params(loss)
        with torch.no_grad():
            right = ((logits > 0).float() == domain).float()
            acc = (right * weight).sum() / weight.sum().clamp(min=1.0)
        return {f'loss_{self.net_name}_d': loss.detach(),
                f'{self.net_name}_acc': acc,
                f'{self.net_name}_source_kept': (reliable * mask).sum() /
                mask.sum().clamp(min=1)}
