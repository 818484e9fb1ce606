"""The symmetric recipe: two segmenters adapted from opposite sides, pseudo
labels where they agree, and their fusion.

The two-stage system this follows (translation, then symmetric adversarial
adaptation with consistency pseudo labels; ``../shared/reference`` seed
003) trains model A on the source translated to the target style plus the
target, and model B on the original source plus the target translated to
the source style. Here both translations are DA-KPN (``tools/train_dakpn.py``
and ``--reverse``) and both models train with output-space adversarial
alignment (``tools/train_symmetric.py`` chains the rounds). Then, per
target pixel::

    probability map  = max_c of (p_A + p_B) / 2
    consistency map  = 1 - |p_A - p_B|_1 / 2   (1: same distribution,
                                                0: disjoint)
    confidence       = (probability map + consistency map) / 2

and pixels whose confidence exceeds a threshold get the fused arg-max as
pseudo label for the next round of both models. At test time the fusion
averages the two models' probabilities (model B sees the T -> S translation
of the image, as in training).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from ..batch_translate import translate_raw_batch
from ..errors import DAKPNInputError
from ..fileio import write_atomic
from ..runtime import get_translator


def consistency_pseudo_labels(prob_a: Tensor, prob_b: Tensor,
                              threshold: float) -> Tuple[Tensor, Tensor]:
    """(B, C, H, W) probabilities of A and B -> pseudo labels (B, H, W)
    (255 below ``threshold``) and the confidence map (B, H, W)."""
    fused = 0.5 * (prob_a + prob_b)
    prob_map, labels = fused.max(dim=1)
    consistency = 1.0 - 0.5 * (prob_a - prob_b).abs().sum(dim=1)
    confidence = 0.5 * (prob_map + consistency)
    labels = torch.where(confidence > threshold, labels,
                         torch.full_like(labels, 255))
    return labels, confidence


def load_plain_segmentor(config: str, checkpoint: str) -> nn.Module:
    """An exported plain mmseg segmentor (``export_segmentor``), weights
    loaded with ``weights_only=True``."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    for path in (config, checkpoint):
        if not Path(path).is_file():
            raise DAKPNInputError(f'segmentor file not found: {path}')
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    model.load_state_dict(state['state_dict'])
    model.dataset_meta = state.get('meta', {}).get('dataset_meta')
    return model.eval()


class FusionSegmentor(BaseModel):
    """Average of the class probabilities of several mmseg segmentors, each
    optionally behind a DA-KPN translation of its input; mmseg's test loop
    and ``IoUMetric`` evaluate it like a segmentor.

    Args:
        members: ``[dict(config=..., checkpoint=..., translation=None or
            dict(checkpoint=BUNDLE)), ...]``: exported segmentors
            (``segmentor_config.py`` + ``segmentor.pth``).
    """

    def __init__(self, members: List[dict], data_preprocessor=None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if len(members) < 2:
            raise ValueError('FusionSegmentor needs at least two members')
        self.members = nn.ModuleList(
            load_plain_segmentor(m['config'], m['checkpoint'])
            for m in members)
        self.translations = [m.get('translation') for m in members]

    def init_weights(self):
        pass  # loaded from the members' checkpoints

    @torch.no_grad()
    def member_probs(self, data: dict) -> List[Tuple[Tensor, list]]:
        """Per member: (B, C, H, W) probabilities at the original image size
        (one shape per batch) and its data samples."""
        out = []
        for member, trans in zip(self.members, self.translations):
            d = copy.deepcopy(data)
            pre = member.data_preprocessor
            if trans is not None:
                d = pre.cast_data(d)
                tr = get_translator(trans['checkpoint'],
                                    str(next(member.parameters()).device),
                                    trans.get('noise'),
                                    trans.get('encoder_dtype'))
                d['inputs'] = translate_raw_batch(
                    tr, list(d['inputs']), bgr=pre.channel_conversion,
                    who='FusionSegmentor')
            d = pre(d, False)
            samples = member.predict(d['inputs'], d['data_samples'])
            out.append((torch.stack([s.seg_logits.data.softmax(dim=0)
                                     for s in samples]), samples))
        return out

    def _fuse(self, data: dict) -> list:
        probs = self.member_probs(data)
        fused = sum(p for p, _ in probs) / len(probs)
        samples = probs[0][1]
        for s, f in zip(samples, fused):
            s.seg_logits = PixelData(data=f.clamp_min(1e-8).log())
            s.pred_sem_seg = PixelData(data=f.argmax(dim=0, keepdim=True))
        return samples

    def val_step(self, data):
        return self._fuse(data)

    def test_step(self, data):
        return self._fuse(data)

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        raise NotImplementedError('FusionSegmentor runs through val_step / '
                                  'test_step (mmseg test loop)')


def write_pseudo_labels(fusion: FusionSegmentor, dataset, out_root,
                        threshold: float, progress=None) -> dict:
    """Pseudo labels of every sample of ``dataset`` (a built target dataset
    whose pipeline loads images only) by two fused members, written in the
    dataset's label layout under ``out_root`` (train ids, 255 = none).
    Returns statistics (share of labelled pixels, mean confidence)."""
    from mmengine.dataset import pseudo_collate
    if len(fusion.members) != 2:
        raise ValueError('consistency pseudo labels need exactly two models')
    img_dir = Path(dataset.data_prefix['img_path'])
    out_root = Path(out_root)
    labelled, conf_sum, n = 0.0, 0.0, len(dataset)
    for i in range(n):
        sample = dataset[i]
        img_path = Path(sample['data_samples'].img_path)
        rel = img_path.relative_to(img_dir).as_posix()
        if not rel.endswith(dataset.img_suffix):
            raise DAKPNInputError(f'{img_path} does not end in '
                                  f'{dataset.img_suffix!r}')
        dst = out_root / (rel[:-len(dataset.img_suffix)] +
                          dataset.seg_map_suffix)
        (pa, _), (pb, _) = fusion.member_probs(pseudo_collate([sample]))
        labels, conf = consistency_pseudo_labels(pa, pb, threshold)
        label = labels[0].cpu().numpy().astype(np.uint8)

        def write_png(tmp, label=label):
            if not cv2.imwrite(str(tmp), label):
                raise OSError(f'could not write {tmp}')
        write_atomic(dst, write_png)
        labelled += float((labels != 255).float().mean())
        conf_sum += float(conf.mean())
        if progress is not None:
            progress(i + 1, n)
    return dict(images=n, labelled=labelled / max(n, 1),
                confidence=conf_sum / max(n, 1), threshold=threshold)


def fusion_config(members: List[dict], eval_cfg, work_dir: str):
    """An mmseg test config evaluating the fusion of ``members`` with the
    run config's val dataloader and evaluator."""
    from mmengine.config import Config
    return Config(dict(
        custom_imports=dict(imports=['dakpn_aug'],
                            allow_failed_imports=False),
        default_scope='mmseg',
        model=dict(type='FusionSegmentor', members=members),
        test_dataloader=eval_cfg.val_dataloader,
        test_evaluator=eval_cfg.val_evaluator,
        test_cfg=dict(type='TestLoop'),
        work_dir=work_dir,
        env_cfg=dict(cudnn_benchmark=False),
        log_processor=dict(by_epoch=False)))
