"""Training on offline pseudo labels of the target (a later round of the
symmetric recipe, ``dakpn_aug.uda.symmetric``)."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import DAKPNInputError
from .base import UDA_METHODS, UDABatch, UDAMethod


@UDA_METHODS.register_module()
class TargetPseudoLabels(UDAMethod):
    """Cross-entropy of the segmenter's target output against the pseudo
    labels ``UDADataset(target_pseudo_labels=...)`` attaches to each target
    sample (``pseudo_sem_seg``; 255 = no label). The labels were made by a
    model before this run, they are never the target's own.

    Args:
        weight: loss weight.
        begin, end, warmup: schedule (see ``UDAMethod``).
    """

    name = 'pl'

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        size = batch.target_inputs.shape[-2:]
        labels = []
        for s in batch.target_samples:
            if 'pseudo_sem_seg' not in s:
                raise DAKPNInputError(
                    'TargetPseudoLabels needs pseudo labels: set '
                    'UDADataset(target_pseudo_labels=FOLDER)')
            lbl = s.pseudo_sem_seg.data[0].long()
            pad_h, pad_w = size[0] - lbl.shape[0], size[1] - lbl.shape[1]
            if pad_h or pad_w:  # the preprocessor padded the images
                lbl = F.pad(lbl, (0, pad_w, 0, pad_h), value=255)
            labels.append(lbl)
        labels = torch.stack(labels).to(batch.target_inputs.device)
        logits = F.interpolate(batch.target_outputs()['logits'], size=size,
                               mode='bilinear', align_corners=False)
        loss = F.cross_entropy(logits, labels, ignore_index=255)
        if not (labels != 255).any():
            loss = logits.sum() * 0.0
        return {'loss_pl': self.weight_at(batch.iteration) * loss,
                'pl_labelled': (labels != 255).float().mean()}
