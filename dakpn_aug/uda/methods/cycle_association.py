"""Pixel-level cycle association (PLCA).

Kang, Wei, Yang, Zhuang, Hauptmann: "Pixel-Level Cycle Association: A New
Perspective for Domain Adaptive Semantic Segmentation", NeurIPS 2020.

On pixel features of the segmenter, each source pixel ``i`` is associated
with its most similar target pixel ``j``, and ``j`` back with its most
similar source pixel ``k``. The cycle ``i -> j -> k`` is kept when ``i``
and ``k`` share a source label (a label-consistent association); for kept
cycles a contrastive loss ``-log P(j | i) - log P(k | j)`` strengthens the
association against every other pixel, where each row of the similarity
matrix is standardised (mean and std detached) and softmaxed, as in the
authors' code. No extra parameters.

Memory is bounded at any crop size: at most ``max_pixels`` pixels per
domain take part in a step (a seeded random subset), and similarities are
computed ``chunk`` rows at a time for the nearest-neighbour searches; the
loss needs the rows of the kept cycles only.

Differences from the paper, by design: one feature level per method
instance (instantiate two for the paper's backbone + classifier levels);
the pixel subset per step (the paper uses every pixel of a 730x1460 crop at
output stride 8); no Lovasz-softmax source loss (configure mmseg's
``LovaszLoss`` in the decode head's ``loss_decode`` if wanted); the
entropy regulariser is ``entropy_weight``.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import UDA_METHODS, UDABatch, UDAMethod

IGNORE = 255


def pairwise_similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """(Na, C) x (Nb, C) -> (Na, Nb) similarities.

    ``'cosine'``: of L2-normalised features. ``'neg_kl'``: of class
    logits, minus KL(softmax(a_i) || softmax(b_j)) (PLCA's classifier
    level).
    """
    if kind == 'cosine':
        return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()
    if kind == 'neg_kl':
        pa = a.softmax(dim=1)
        log_pa, log_pb = a.log_softmax(dim=1), b.log_softmax(dim=1)
        return pa @ log_pb.t() - (pa * log_pa).sum(dim=1, keepdim=True)
    raise ValueError(f"similarity must be 'cosine' or 'neg_kl', got {kind!r}")


def nearest(a: Tensor, b: Tensor, kind: str, chunk: int = 4096) -> Tensor:
    """For each row of ``a`` the index of its most similar row of ``b``,
    ``chunk`` rows of ``a`` at a time (no gradient)."""
    with torch.no_grad():
        return torch.cat([pairwise_similarity(a[i:i + chunk], b, kind)
                          .argmax(dim=1) for i in range(0, len(a), chunk)])


def cycle_associations(src: Tensor, tgt: Tensor, labels: Tensor,
                       kind: str = 'cosine', chunk: int = 4096
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """The cycles ``i -> j -> k`` of every source pixel ``i``.

    Args:
        src: (Ns, C) source pixel features; tgt: (Nt, C) target ones.
        labels: (Ns,) source labels (``255`` = ignore: never kept).

    Returns:
        ``j`` (Ns,), ``k`` (Ns,) and ``kept`` (Ns,) bool: ``labels[i] ==
        labels[k]`` and not ignored.
    """
    j = nearest(src, tgt, kind, chunk)
    back = nearest(tgt, src, kind, chunk)
    k = back[j]
    kept = (labels == labels[k]) & (labels != IGNORE)
    return j, k, kept


def _log_assoc_prob(rows: Tensor, cols: Tensor, kind: str,
                    pick: Tensor) -> Tensor:
    """log softmax(standardise(sim(rows, cols)))[r, pick[r]], mean and
    std of each row detached (the authors' normalisation)."""
    sim = pairwise_similarity(rows, cols, kind)
    mu = sim.mean(dim=1, keepdim=True).detach()
    sd = sim.std(dim=1, keepdim=True).detach().clamp(min=1e-6)
    logp = ((sim - mu) / sd).log_softmax(dim=1)
    return logp.gather(1, pick[:, None])[:, 0]


def cycle_association_loss(src: Tensor, tgt: Tensor, labels: Tensor,
                           kind: str = 'cosine', chunk: int = 4096
                           ) -> Tuple[Tensor, Tensor]:
    """PLCA's loss over the kept cycles: mean of ``-log P(j|i) -
    log P(k|j)``; returns ``(loss, share of source pixels kept)``."""
    j, k, kept = cycle_associations(src, tgt, labels, kind, chunk)
    valid = labels != IGNORE
    share = kept.float().sum() / valid.float().sum().clamp(min=1.0)
    idx = kept.nonzero()[:, 0]
    if len(idx) == 0:
        return src.sum() * 0.0 + tgt.sum() * 0.0, share
    losses = []
    for c in range(0, len(idx), chunk):
        part = idx[c:c + chunk]
        ji, ki = j[part], k[part]
        losses.append(-_log_assoc_prob(src[part], tgt, kind, ji)
                      - _log_assoc_prob(tgt[ji], src, kind, ki))
    return torch.cat(losses).mean(), share


def aggregate_target(tgt: Tensor, alpha: float, kind: str) -> Tensor:
    """PLCA's spatial aggregation of target features: ``(1 - a) x + a *
    sum_k softmax_k(sim(x, x_k)) x_k`` over the step's target pixels."""
    if alpha <= 0:
        return tgt
    weights = pairwise_similarity(tgt, tgt, kind).softmax(dim=1)
    return (1.0 - alpha) * tgt + alpha * (weights @ tgt)


@UDA_METHODS.register_module()
class PixelCycleAssociation(UDAMethod):
    """Pixel-level cycle association (PLCA, NeurIPS 2020).

    Args:
        weight: loss weight (the paper: 0.1 per level).
        level: ``'features'`` (the backbone stage ``feature_index``, cosine
            similarity) or ``'logits'`` (the decode head's class logits,
            negative KL), as the paper's two levels.
        feature_index: which backbone output for ``level='features'``
            (default: the last).
        max_pixels: pixels per domain per step (a seeded random subset).
        chunk: rows per similarity block.
        target_aggregation: PLCA's ``a`` (0.5); 0 switches it off.
        entropy_weight: weight of the mean prediction entropy of both
            domains (the paper: 0.01); 0 switches it off.
        name_suffix: tells two instances apart in the logs.
        begin, end, warmup: schedule (see ``UDAMethod``).
    """

    name = 'plca'

    def __init__(self, weight: float = 0.1, level: str = 'features',
                 feature_index: int = -1, max_pixels: int = 4096,
                 chunk: int = 4096, target_aggregation: float = 0.5,
                 entropy_weight: float = 0.0, name_suffix: str = '',
                 **schedule):
        super().__init__(weight=weight, **schedule)
        if level not in ('features', 'logits'):
            raise ValueError("level must be 'features' or 'logits', got "
                             f'{level!r}')
        if max_pixels < 2 or chunk < 1:
            raise ValueError('max_pixels must be >= 2 and chunk >= 1')
        self.level = level
        self.kind = 'cosine' if level == 'features' else 'neg_kl'
        self.feature_index = feature_index
        self.max_pixels = int(max_pixels)
        self.chunk = int(chunk)
        self.target_aggregation = float(target_aggregation)
        self.entropy_weight = float(entropy_weight)
        self.key = f'plca_{level}{name_suffix}'

    def _pixels(self, outputs: dict) -> Tensor:
        if self.level == 'logits':
            return outputs['logits']
        return outputs['features'][self.feature_index]

    def _subset(self, x: Tensor, gen: torch.Generator,
                labels: Tensor = None):
        """(B, C, h, w) -> (N, C) rows (and their labels), at most
        ``max_pixels`` of them."""
        rows = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        n = rows.shape[0]
        if n > self.max_pixels:
            pick = torch.randperm(n, generator=gen, device=gen.device)[
                :self.max_pixels].to(rows.device)
            rows = rows[pick]
            if labels is not None:
                labels = labels[pick]
        return rows, labels

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        src_map = self._pixels(batch.source_outputs)
        tgt_map = self._pixels(batch.target_outputs())
        labels = F.interpolate(batch.source_labels()[:, None].float(),
                               size=src_map.shape[-2:],
                               mode='nearest')[:, 0].long().reshape(-1)
        src, labels = self._subset(src_map, batch.generator, labels)
        tgt, _ = self._subset(tgt_map, batch.generator)
        tgt = aggregate_target(tgt, self.target_aggregation, self.kind)
        loss, share = cycle_association_loss(src, tgt, labels, self.kind,
                                             self.chunk)
        w = self.weight_at(batch.iteration)
        out = {f'loss_{self.key}': w * loss,
               f'{self.key}_kept': share.detach()}
        if self.entropy_weight > 0:
            ent = 0.0
            for logits in (batch.source_outputs['logits'],
                           batch.target_outputs()['logits']):
                p = logits.softmax(dim=1)
                ent = ent + -(p * logits.log_softmax(dim=1)).sum(1).mean()
            out[f'loss_{self.key}_entropy'] = self.entropy_weight * ent / 2
        return out
