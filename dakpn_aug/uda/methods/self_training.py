"""Self-training with an EMA teacher and ClassMix (DACS / DAFormer).

Tranheden, Olsson, Pinto, Svensson: "DACS: Domain Adaptation via
Cross-domain Mixed Sampling", WACV 2021; Hoyer, Dai, Van Gool: "DAFormer",
CVPR 2022 (its settings are the defaults here).

Each step: the teacher (an exponential moving average of the segmenter)
predicts the target batch; its arg-max is the pseudo label, weighted by the
share of pixels whose confidence reaches ``threshold`` (DAFormer) or by
each pixel's confidence. ClassMix pastes the pixels of half of the classes
of each source image onto a target image (labels: source labels there,
pseudo labels elsewhere); the mixed batch is colour-jittered and blurred,
and the segmenter is trained on it with the weighted cross-entropy. The
student is what the run evaluates and exports.

Differences from DAFormer, by design:
- the teacher also averages the floating-point buffers (BatchNorm
  statistics: mmseg's CNN segmentors have them, MiT has none) and always
  runs in eval mode;
- the strong augmentation is brightness/contrast/saturation jitter and a
  Gaussian blur written here (DAFormer uses kornia's ColorJitter with hue);
- no ImageNet feature-distance term (it needs the ImageNet backbone kept
  in memory; a separate module can add it).
"""
from __future__ import annotations

import copy
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...functional import gaussian_kernel1d
from .base import UDA_METHODS, UDABatch, UDAMethod


class EMATeacher(nn.Module):
    """A frozen copy of the segmenter, updated as an exponential moving
    average of it; starts as an exact copy on the first step."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.register_buffer('initialised', torch.tensor(0))
        self.model.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()  # never dropout or BN updates in the teacher
        return self

    @torch.no_grad()
    def sync(self, student: nn.Module) -> None:
        """Copy the student once, before the first pseudo labels."""
        if int(self.initialised) == 0:
            self.model.load_state_dict(student.state_dict())
            self.initialised.fill_(1)

    @torch.no_grad()
    def update(self, student: nn.Module, alpha: float) -> None:
        ema = self.model.state_dict()
        for k, v in student.state_dict().items():
            if v.is_floating_point():
                ema[k].mul_(alpha).add_(v.detach(), alpha=1.0 - alpha)
            else:
                ema[k].copy_(v)

    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        """(B, C, H, W) logits at the input size."""
        feats = self.model.extract_feat(inputs)
        logits = self.model.decode_head(feats)
        return F.interpolate(logits, size=inputs.shape[-2:],
                             mode='bilinear', align_corners=False)


def class_mix_masks(labels: Tensor, generator: torch.Generator,
                    ignore_index: int = 255) -> Tensor:
    """ClassMix: per image, a (H, W) mask of the pixels of a random half
    (rounded up) of its classes. ``labels`` (B, H, W) -> (B, H, W) bool."""
    masks = []
    for lbl in labels:
        classes = torch.unique(lbl)
        classes = classes[classes != ignore_index]
        n = len(classes)
        pick = torch.randperm(n, generator=generator,
                              device=generator.device)[:(n + 1) // 2]
        masks.append(torch.isin(lbl, classes[pick.to(classes.device)]))
    return torch.stack(masks)


def strong_augment(img: Tensor, generator: torch.Generator,
                   jitter: float = 0.2, jitter_prob: float = 0.2,
                   blur_prob: float = 0.5, blur_sigma=(0.15, 1.15)) -> Tensor:
    """DAFormer-style strong augmentation of (B, 3, H, W) 0..255 images:
    brightness, contrast and saturation each scaled by U(1 - jitter,
    1 + jitter) with probability ``jitter_prob``, then a Gaussian blur of
    sigma U(blur_sigma) with probability ``blur_prob``, per image."""
    b = img.shape[0]

    def u(lo, hi):
        return torch.rand(b, 1, 1, 1, generator=generator,
                          device=generator.device).to(img.device) * \
            (hi - lo) + lo

    def coin(p):
        return u(0.0, 1.0) < p

    x = img / 255.0
    for op in ('brightness', 'contrast', 'saturation'):
        f = torch.where(coin(jitter_prob), u(1 - jitter, 1 + jitter),
                        torch.ones_like(u(0, 1)))
        if op == 'brightness':
            x = x * f
        else:
            grey = x.mean(dim=1, keepdim=True)
            if op == 'contrast':
                grey = grey.mean(dim=(2, 3), keepdim=True)
            x = grey + f * (x - grey)
        x = x.clamp(0.0, 1.0)
    sigma = torch.where(coin(blur_prob), u(*blur_sigma),
                        torch.zeros_like(u(0, 1))).view(b)
    radius = int(2 * blur_sigma[1] + 0.5)
    k = gaussian_kernel1d(sigma.to(x.dtype), 2 * radius + 1)  # (B, K)
    c = x.shape[1]
    # Depthwise separable blur, one kernel per image (groups over B*C).
    xs = x.reshape(1, b * c, *x.shape[-2:])
    kh = k.repeat_interleave(c, 0)[:, None, None, :]
    kv = k.repeat_interleave(c, 0)[:, None, :, None]
    xs = F.pad(xs, (radius, radius, radius, radius), mode='reflect')
    xs = F.conv2d(F.conv2d(xs, kh, groups=b * c), kv, groups=b * c)
    return xs.reshape_as(x) * 255.0


@UDA_METHODS.register_module()
class EMASelfTraining(UDAMethod):
    """Self-training with an EMA teacher, confidence-weighted pseudo labels
    and ClassMix (DACS, WACV 2021; DAFormer's settings, CVPR 2022).

    Args:
        weight: weight of the mixed-batch loss (DAFormer: 1).
        alpha: EMA decay cap; alpha_t = min(1 - 1/(t + 1), alpha)
            (DAFormer 0.999, DACS 0.99).
        threshold: confidence threshold of the pseudo-label weight
            (DAFormer 0.968).
        weighting: ``'fraction'`` (DAFormer: each target image's weight is
            the share of its pixels above ``threshold``) or ``'pixel'``
            (each pixel weighted by its confidence, 0 below ``threshold``).
        ignore_top, ignore_bottom: rows of the pseudo label given weight 0
            (DAFormer: 15 and 120 on Cityscapes crops, the ego car).
        strong_aug: ``strong_augment`` arguments, or None for none.
        net_name: attribute name of the teacher on the wrapper.
        begin, end, warmup: schedule (see ``UDAMethod``).
    """

    name = 'st'

    def __init__(self, weight: float = 1.0, alpha: float = 0.999,
                 threshold: float = 0.968, weighting: str = 'fraction',
                 ignore_top: int = 0, ignore_bottom: int = 0,
                 strong_aug: dict = dict(), net_name: str = 'ema_teacher',
                 **schedule):
        super().__init__(weight=weight, **schedule)
        if weighting not in ('fraction', 'pixel'):
            raise ValueError("weighting must be 'fraction' or 'pixel', got "
                             f'{weighting!r}')
        if not 0.0 < alpha < 1.0:
            raise ValueError(f'alpha must be in (0, 1), got {alpha}')
        self.alpha = alpha
        self.threshold = threshold
        self.weighting = weighting
        self.ignore_top = ignore_top
        self.ignore_bottom = ignore_bottom
        self.strong_aug = strong_aug
        self.net_name = net_name

    def build_nets(self, model: nn.Module,
                   num_classes: int) -> Dict[str, nn.Module]:
        return {self.net_name: EMATeacher(model)}

    def pseudo_labels(self, logits: Tensor):
        """Teacher logits -> (labels, weights), both (B, H, W)."""
        prob = logits.softmax(dim=1)
        conf, labels = prob.max(dim=1)
        confident = conf >= self.threshold
        if self.weighting == 'fraction':
            frac = confident.float().mean(dim=(1, 2), keepdim=True)
            weights = frac.expand_as(conf).clone()
        else:
            weights = conf * confident
        if self.ignore_top:
            weights[:, :self.ignore_top] = 0
        if self.ignore_bottom:
            weights[:, -self.ignore_bottom:] = 0
        return labels, weights

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        teacher = batch.nets[self.net_name]
        teacher = getattr(teacher, 'module', teacher)
        teacher.sync(batch.model)
        labels_t, weights_t = self.pseudo_labels(
            teacher(batch.target_inputs))
        labels_s = batch.source_labels()
        mask = class_mix_masks(labels_s, batch.generator)
        m = mask[:, None].to(batch.source_inputs.dtype)
        mixed = m * batch.source_inputs + (1 - m) * batch.target_inputs
        labels = torch.where(mask, labels_s, labels_t)
        weights = torch.where(mask, torch.ones_like(weights_t), weights_t)
        if self.strong_aug is not None:
            mixed = batch.normalise(strong_augment(
                batch.denormalise(mixed), batch.generator,
                **self.strong_aug))
        logits = batch.forward(mixed)['logits']
        logits = F.interpolate(logits, size=mixed.shape[-2:],
                               mode='bilinear', align_corners=False)
        ce = F.cross_entropy(logits, labels, ignore_index=255,
                             reduction='none')
        valid = (labels != 255).float()
        loss = (ce * weights * valid).sum() / valid.sum().clamp(min=1.0)
        return {'loss_st': self.weight_at(batch.iteration) * loss,
                'st_pseudo_weight': weights_t.mean().detach()}

    def after_segmentor_step(self, batch: UDABatch,
                             optim_wrapper) -> Dict[str, Tensor]:
        teacher = batch.nets[self.net_name]
        teacher = getattr(teacher, 'module', teacher)
        t = batch.iteration
        teacher.update(batch.model, min(1.0 - 1.0 / (t + 1), self.alpha))
        return {}
