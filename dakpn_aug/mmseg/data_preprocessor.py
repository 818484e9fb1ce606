"""``DAKPNSegDataPreProcessor``: DA-KPN as a GPU batch step in mmseg."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor

from ..noise import seeded_generator
from ..runtime import get_translator
from ..batch_translate import sample_labels, translate_raw_batch


class DAKPNSegDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` that translates training images with DA-KPN
    on the model's device, before normalisation.

    Use it instead of the pipeline transform when the model trains on a
    GPU: the dataloader workers stay CPU-only and the translation runs on
    the GPU batch::

        data_preprocessor = dict(
            type='DAKPNSegDataPreProcessor', checkpoint='dakpn_bundle.pth',
            prob=1.0, source_key=None, mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
            seg_pad_val=255, size=crop_size)

    Only training batches are translated (never validation or test). With
    ``source_key='is_source'`` only samples whose metainfo has a true
    ``is_source`` are translated (mixed source/target batches). Labels are
    not touched. For the same bundle, noise policy and seed the result
    equals the ``DAKPNTranslate`` pipeline transform's, image by image in
    batch order. The translator is not a sub-module: its weights are
    neither saved with the segmentor nor trained.

    Args:
        checkpoint: translator bundle.
        prob: probability of translating each selected sample.
        source_key: metainfo key marking source samples, or None for all.
        noise: override the bundle's noise policy.
        seed: seeds the noise (``'fresh'``) and ``prob`` draws.
        encoder_dtype: ``'bfloat16'``/``'float16'`` run the encoder under
            autocast (see ``DAKPNTranslator``); None: float32.
        label_guidance: pass the samples' ``gt_sem_seg`` to the
            translation (see ``DAKPNTranslator``); False: images alone.
        **kwargs: ``SegDataPreProcessor`` arguments.
    """

    def __init__(self,
                 checkpoint: str,
                 prob: float = 1.0,
                 source_key: Optional[str] = None,
                 noise: Optional[str] = None,
                 seed: Optional[int] = None,
                 encoder_dtype: Optional[str] = None,
                 label_guidance: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.checkpoint = checkpoint
        self.prob = prob
        self.source_key = source_key
        self.noise = noise
        self.seed = seed
        self.encoder_dtype = encoder_dtype
        self.label_guidance = bool(label_guidance)
        self.__dict__['_generator'] = None
        # The ``prob`` draws: seeded with ``seed`` (never the global
        # np.random state, which other code shares and reseeds).
        self.__dict__['_prob_rng'] = np.random.default_rng(seed)

    def _gen(self) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        if self._generator is None:
            self.__dict__['_generator'] = seeded_generator(self.seed)
        return self._generator

    def _selected(self, samples) -> List[bool]:
        sel = []
        for s in samples:
            ok = True
            if self.source_key is not None:
                ok = s is not None and bool(
                    s.metainfo.get(self.source_key, False))
            if ok and self.prob < 1.0:
                ok = bool(self._prob_rng.random() < self.prob)
            sel.append(ok)
        return sel

    def translate_inputs(self, inputs: List[torch.Tensor],
                         samples) -> List[torch.Tensor]:
        """Translate the selected (3, H, W) raw images (BGR when
        ``bgr_to_rgb``, values 0..255), returning them in the same form:
        one batched call per image size (``translate_raw_batch``)."""
        translator = get_translator(self.checkpoint, str(inputs[0].device),
                                    self.noise, self.encoder_dtype)
        return translate_raw_batch(
            translator, inputs, bgr=self.channel_conversion,
            selected=self._selected(samples), generator=self._gen(),
            who='DAKPNSegDataPreProcessor',
            labels=sample_labels(samples) if self.label_guidance else None)

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        if training:
            data = self.cast_data(data)
            data = dict(data)
            data['inputs'] = self.translate_inputs(
                list(data['inputs']), data.get('data_samples') or
                [None] * len(data['inputs']))
        return super().forward(data, training)
