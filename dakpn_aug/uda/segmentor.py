"""``UDASegmentor``: an mmseg segmentor adapted to unlabelled target data,
with DA-KPN as an optional online stage 1 and adaptation methods composed
by config.

Config::

    model = dict(
        type='UDASegmentor',
        segmentor=dict(type='EncoderDecoder', ...),   # any mmseg config
        translation=dict(checkpoint='dakpn_bundle.pth', prob=1.0),
        methods=[dict(type='OutputAdversarial', weight=0.001),
                 dict(type='EMASelfTraining')])
    optim_wrapper = dict(
        constructor='MultiOptimWrapperConstructor',
        segmentor=dict(optimizer=dict(type='SGD', lr=2.5e-4, ...)),
        discriminator=dict(optimizer=dict(type='Adam', lr=1e-4, ...)))

One training step (``train_step``): the source half of the paired batch
is translated by DA-KPN on the model's device (one batched call), both
halves are normalised by the segmentor's own data preprocessor, the
segmentor's losses on the labelled source are summed with every active
method's losses and applied in one update of the ``segmentor`` optimiser;
then each method updates its own networks (discriminator steps, EMA).
Target labels never reach this step: the dataset does not load them and
``train_step`` drops any ``gt_sem_seg`` a target sample still carries.

Validation and test are the bare segmentor's (``IoUMetric``, visualisers
and mmseg's test loop work unchanged); ``export_segmentor`` writes it as a
plain mmseg checkpoint + config.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from ..models.utils import unwrap
from ..runtime import get_translator
from ..batch_translate import sample_labels, translate_raw_batch
from .methods.base import UDABatch, UDAMethod, build_methods


def _translation_cfg(cfg: Optional[dict], name: str) -> Optional[dict]:
    if cfg is None:
        return None
    cfg = dict(cfg)
    unknown = set(cfg) - {'checkpoint', 'prob', 'noise', 'encoder_dtype',
                          'label_guidance'}
    if unknown or 'checkpoint' not in cfg:
        raise ValueError(f'{name} must be dict(checkpoint=PATH, prob=1.0, '
                         f'noise=None, encoder_dtype=None, '
                         f'label_guidance=True), got keys {sorted(cfg)}')
    if not 0.0 <= cfg.setdefault('prob', 1.0) <= 1.0:
        raise ValueError(f'{name} prob must be in [0, 1]')
    return cfg


class SegmentorHeads(nn.Module):
    """The mmseg segmentor (``.model``) with one training forward that
    returns every head's logits. Under DDP the trainable module's own
    ``forward`` must run (gradient sync hooks), and mmseg's
    ``mode='tensor'`` gives the decode head only."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def init_weights(self) -> None:
        # mmengine initialises direct children that have init_weights: pass
        # it on, or the segmentor's init_cfg (pretrained backbone) is lost.
        if hasattr(self.model, 'init_weights'):
            self.model.init_weights()

    def forward(self, inputs: Tensor) -> Dict[str, object]:
        model = self.model
        feats = model.extract_feat(inputs)
        out = dict(features=feats, logits=model.decode_head(feats),
                   aux_logits=[])
        if getattr(model, 'with_auxiliary_head', False):
            heads = model.auxiliary_head
            heads = heads if isinstance(heads, nn.ModuleList) else [heads]
            out['aux_logits'] = [h(feats) for h in heads]
        return out


class UDASegmentor(BaseModel):
    """Unsupervised domain adaptation of an mmseg segmentor.

    Args:
        segmentor: mmseg segmentor config (``EncoderDecoder`` and
            subclasses), with its ``data_preprocessor``.
        methods: adaptation method configs (``UDA_METHODS``), applied in
            order; empty = source-only training (with DA-KPN if set).
        translation: online DA-KPN for the source half, ``dict(checkpoint=
            PATH, prob=1.0, noise=None, encoder_dtype=None)`` (``noise``
            overrides the bundle's policy; ``'fresh'`` draws a new field
            per step on the model's device; ``encoder_dtype``: see
            ``DAKPNTranslator``; ``label_guidance``: pass the source
            labels to the translation, default True), or None.
        target_translation: the same for the target half (a target ->
            source bundle, ``tools/train_dakpn.py --reverse``: the symmetric
            recipe's model B), or None. Target labels are never passed:
            it translates from the images alone.
        source_weight: weight of the supervised source loss.
        seed: seeds each step: its generator (translation noise and
            ``prob`` draws, ClassMix, augmentation) and torch's global
            generator (dropout) are seeded from ``(seed, t)``, so step
            ``t`` of a resumed run draws what an uninterrupted run draws.
        init_cfg: mmengine init config.
    """

    def __init__(self, segmentor: dict,
                 methods: Optional[List[Union[dict, UDAMethod]]] = None,
                 translation: Optional[dict] = None,
                 target_translation: Optional[dict] = None,
                 source_weight: float = 1.0, seed: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        from mmseg.registry import MODELS
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.segmentor = SegmentorHeads(MODELS.build(segmentor))
        self.methods = build_methods(methods)
        num_classes = self.model.decode_head.num_classes
        self.net_names: List[str] = []
        for method in self.methods:
            for name, net in method.build_nets(self.model,
                                               num_classes).items():
                if hasattr(self, name):
                    raise ValueError(
                        f'{type(method).__name__} declares a network '
                        f'{name!r}, but that name is taken; set its '
                        'net_name')
                self.add_module(name, net)
                self.net_names.append(name)
        self.translation = _translation_cfg(translation, 'translation')
        self.target_translation = _translation_cfg(target_translation,
                                                   'target_translation')
        self.source_weight = float(source_weight)
        self.seed = int(seed)
        # The step counter is state: saved in checkpoints, restored on
        # resume, so schedules and per-step seeds continue exactly.
        self.register_buffer('local_iter', torch.tensor(0, dtype=torch.long))

    # ------------------------------------------------------------ access

    @property
    def model(self) -> nn.Module:
        """The bare mmseg segmentor (what is evaluated and exported)."""
        return unwrap(self.segmentor).model

    @property
    def seg_preprocessor(self):
        return self.model.data_preprocessor

    def _step_seed(self, iteration: int, stream: int) -> int:
        return int(np.random.SeedSequence(
            [self.seed, iteration, stream]).generate_state(1)[0])

    def _generator(self, device, iteration: int,
                   stream: int = 0) -> torch.Generator:
        g = torch.Generator(device=device)
        g.manual_seed(self._step_seed(iteration, stream))
        return g

    # ------------------------------------------------------------ training

    def _translate_source(self, source: dict, generator) -> dict:
        return self._translate(source, self.translation, generator,
                               with_labels=True)

    def _translate(self, half: dict, how: dict, generator,
                   with_labels: bool = False) -> dict:
        """One half of the batch through DA-KPN (``how``: a translation
        config), on the model's device. ``with_labels``: the half's
        ``gt_sem_seg`` guide the translation (source halves only: target
        labels must never reach training)."""
        pre = self.seg_preprocessor
        half = pre.cast_data(dict(half))
        inputs = list(half['inputs'])
        prob = how['prob']
        selected = None
        if prob < 1.0:
            draws = torch.rand(len(inputs), generator=generator,
                               device=generator.device)
            selected = (draws < prob).tolist()
        translator = get_translator(how['checkpoint'], str(inputs[0].device),
                                    how.get('noise'),
                                    how.get('encoder_dtype'))
        labels = None
        if with_labels and how.get('label_guidance', True):
            labels = sample_labels(half.get('data_samples') or
                                   [None] * len(inputs))
        half['inputs'] = translate_raw_batch(
            translator, inputs, bgr=pre.channel_conversion,
            selected=selected, generator=generator,
            who='UDASegmentor translation', labels=labels)
        return half

    def _source_losses(self, outputs: dict, samples: list) -> dict:
        model = self.model
        losses = {}
        main = model.decode_head.loss_by_feat(outputs['logits'], samples)
        losses.update({f'src.{k}': v for k, v in main.items()})
        if getattr(model, 'with_auxiliary_head', False):
            heads = model.auxiliary_head
            heads = heads if isinstance(heads, nn.ModuleList) else [heads]
            for i, (head, logits) in enumerate(zip(heads,
                                                   outputs['aux_logits'])):
                tag = 'aux' if len(heads) == 1 else f'aux_{i}'
                aux = head.loss_by_feat(logits, samples)
                losses.update({f'src.{tag}.{k}': v for k, v in aux.items()})
        if self.source_weight != 1.0:
            losses = {k: v * self.source_weight if 'loss' in k else v
                      for k, v in losses.items()}
        return losses

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        if not (isinstance(data, dict) and 'source' in data and
                'target' in data):
            raise ValueError('UDASegmentor trains on paired batches '
                             "dict(source=..., target=...): use "
                             "dataset=dict(type='UDADataset', ...)")
        it = int(self.local_iter)
        pre = self.seg_preprocessor
        target = dict(data['target'])
        # Target labels never reach a loss, whatever the pipeline loaded.
        for sample in target.get('data_samples') or []:
            if 'gt_sem_seg' in sample:
                del sample.gt_sem_seg
        device = next(self.model.parameters()).device
        gen = self._generator(device, it)
        # Dropout and other global draws: a function of the step too
        # (mmengine does not restore generator states on resume).
        torch.manual_seed(self._step_seed(it, 1))
        source = data['source']
        if self.translation is not None:
            source = self._translate_source(source, gen)
        if self.target_translation is not None:
            target = self._translate(target, self.target_translation,
                                     self._generator(device, it, stream=2))
        source = pre(source, training=True)
        target = pre(target, training=True)
        seg_optim = optim_wrapper['segmentor']
        mean = pre.mean if pre._enable_normalize else torch.zeros(
            1, 3, 1, 1, device=device)
        std = pre.std if pre._enable_normalize else torch.ones(
            1, 3, 1, 1, device=device)
        nets = {name: getattr(self, name) for name in self.net_names}
        with seg_optim.optim_context(self.segmentor):
            src_out = self.segmentor(source['inputs'])
            batch = UDABatch(
                source_inputs=source['inputs'],
                source_samples=source['data_samples'],
                target_inputs=target['inputs'],
                target_samples=target['data_samples'],
                source_outputs=src_out, iteration=it,
                nets=nets,
                segmentor=self.segmentor, model=self.model, generator=gen,
                mean=mean.view(1, -1, 1, 1), std=std.view(1, -1, 1, 1),
                _forward=self.segmentor)
            losses = self._source_losses(src_out, source['data_samples'])
            active = [m for m in self.methods if m.active(it)]
            for method in active:
                for k, v in method.segmentor_losses(batch).items():
                    if k in losses:
                        raise ValueError(f'two losses named {k!r}')
                    losses[k] = v
            loss, log = self.parse_losses(losses)
        seg_optim.update_params(loss)
        for method in active:
            log.update(method.after_segmentor_step(batch, optim_wrapper))
        self.local_iter += 1
        return log

    # ------------------------------------------------------------ inference

    def val_step(self, data):
        return self.model.val_step(data)

    def test_step(self, data):
        return self.model.test_step(data)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """The bare segmentor's ``forward`` (``tensor``/``predict``/
        ``loss`` on already preprocessed inputs)."""
        return self.model(inputs, data_samples, mode=mode)

