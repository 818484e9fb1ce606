"""Stage 2: unsupervised domain adaptation of mmseg segmentors.

- :class:`UDADataset`: labelled source + unlabelled target, paired per item;
- :class:`UDASegmentor`: wraps any mmseg segmentor, optional online DA-KPN,
  adaptation methods composed by config (:mod:`dakpn_aug.uda.methods`);
- :func:`export_segmentor`: the adapted segmentor as a plain mmseg model.

Registered in mmseg's registries by :mod:`dakpn_aug.mmseg`.
"""
from .dataset import RareClassSampler, UDADataset, strip_target_labels
from .export import export_segmentor, segmentor_config
from .methods import (UDA_METHODS, EMASelfTraining, OutputAdversarial,
                      UDABatch, UDAMethod)
from .segmentor import SegmentorHeads, UDASegmentor

__all__ = ['UDADataset', 'RareClassSampler', 'strip_target_labels',
           'UDASegmentor', 'SegmentorHeads', 'export_segmentor',
           'segmentor_config', 'UDA_METHODS', 'UDAMethod', 'UDABatch',
           'OutputAdversarial', 'EMASelfTraining']
