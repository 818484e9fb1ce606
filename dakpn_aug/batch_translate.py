"""DA-KPN over a training batch of raw mmseg images: the one translation
path of ``DAKPNSegDataPreProcessor`` and the UDA segmentor's online stage 1.

mmseg batches arrive as (3, H, W) tensors of 0..255 values (uint8, or float
after ``cast_data``), BGR when the data preprocessor has ``bgr_to_rgb``.
The selected images are grouped by size and each group is translated with
one batched call on the images' device (one call per batch when the images
share a size, as training crops do); the noise field of a group is drawn
in one call from ``generator`` on that generator's device. The samples'
``gt_sem_seg`` (source labels, train ids) go along for label guidance
(``DAKPNTranslator``); they are read, never changed.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor

from .errors import DAKPNInputError
from .image import check_unit_range
from .translator import DAKPNTranslator


def _check_raw(img: Tensor, i: int, who: str) -> None:
    if img.dim() != 3 or img.shape[0] != 3:
        raise DAKPNInputError(
            f'{who}: input {i} has shape {tuple(img.shape)}; DA-KPN '
            'translates (3, H, W) colour images (convert greyscale, drop '
            'alpha in the pipeline)')
    if img.is_floating_point():
        check_unit_range(img / 255.0, f'input {i} (0..255 scale)')


def sample_labels(samples) -> List[Optional[Tensor]]:
    """The (H, W) label map of each mmseg data sample (``gt_sem_seg``),
    None where a sample has none."""
    out = []
    for s in samples:
        seg = getattr(s, 'gt_sem_seg', None) if s is not None else None
        out.append(None if seg is None else seg.data[0])
    return out


@torch.no_grad()
def translate_raw_batch(translator: DAKPNTranslator,
                        inputs: Sequence[Tensor],
                        bgr: bool = False,
                        selected: Optional[Sequence[bool]] = None,
                        generator: Optional[torch.Generator] = None,
                        who: str = 'DA-KPN',
                        labels: Optional[Sequence[Optional[Tensor]]] = None
                        ) -> List[Tensor]:
    """Translate the selected raw images of a batch.

    Args:
        translator: the DA-KPN translator (moves to the images' device).
        inputs: (3, H, W) images of 0..255 values, or one (B, 3, H, W)
            tensor; each keeps its dtype.
        bgr: the images are BGR (mmseg's ``LoadImageFromFile`` default).
        selected: which images to translate (default: all).
        generator: noise generator (``'fresh'`` policies; see
            ``DAKPNTranslator.noise_for``).
        who: names the caller in errors.
        labels: per image its (H, W) label map in the encoder's class
            indices, or None (:func:`sample_labels`), for label guidance;
            a group is guided when every image in it has one.

    Returns:
        A list of (3, H, W) tensors: translated (rounded to whole 0..255
        values) where selected, the input object itself elsewhere.
    """
    inputs = list(inputs)
    if selected is None:
        selected = [True] * len(inputs)
    if len(selected) != len(inputs):
        raise ValueError(f'{len(selected)} selection flags for '
                         f'{len(inputs)} images')
    groups: dict = {}
    for i, (img, use) in enumerate(zip(inputs, selected)):
        if use:
            _check_raw(img, i, who)
            groups.setdefault((tuple(img.shape), img.device), []).append(i)
    out = list(inputs)
    for idx in groups.values():
        x = torch.stack([inputs[i] for i in idx]).float()
        if bgr:
            x = x.flip(1)
        x = (x / 255.0).clamp_(0.0, 1.0)
        lab = None
        if labels is not None and all(labels[i] is not None for i in idx):
            lab = torch.stack([labels[i] for i in idx]).to(x.device)
        y = translator.translate_batch(x, generator=generator, labels=lab)
        y = torch.round(y * 255.0)
        if bgr:
            y = y.flip(1)
        for j, i in enumerate(idx):
            out[i] = y[j].to(inputs[i].dtype)
    return out
