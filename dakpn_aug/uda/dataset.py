"""``UDADataset``: one labelled source sample paired with one unlabelled
target sample per item, for stage-2 adaptation.

The target's labels are never read: every ``LoadAnnotations`` is removed
from the target pipeline before the dataset is built (so garbage or missing
label files on disk cannot change a training step), ``RandomCrop``'s
class-balancing ``cat_max_ratio`` (which needs labels) is switched off for
the target, and any ``gt_sem_seg`` that still reaches a target sample is
dropped. Target labels belong to the validation dataloader only.

Sampling is a pure function of ``(seed, index, rank)``: which target sample
pairs with the source sample, the source sample itself under rare-class
sampling, and the seed of the mmseg pipelines' random transforms (flips,
crops, photometric). A resumed run therefore replays exactly the batches
of an uninterrupted one, and DDP ranks draw different pairs.

Rare-class sampling (DAFormer, Hoyer et al. CVPR 2022): class ``c`` is
drawn with probability ``softmax((1 - f_c) / T)`` over the source label
frequencies ``f_c``, then a source image holding at least ``min_pixels``
pixels of ``c``. The per-image class counts are computed from the source
labels on first use (one pass, with progress) and cached in ``cache_file``
when one is given.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import List, Optional

import numpy as np
from mmengine.dist import get_rank
from mmengine.logging import print_log
from torch.utils.data import Dataset

from ..data.seg_datasets import _PairedSegMixin
from ..errors import DAKPNInputError

LABEL_TRANSFORMS = ('LoadAnnotations', 'MapLabelIdsToTrainIds')


def strip_target_labels(pipeline: list) -> list:
    """A copy of ``pipeline`` that never reads or uses labels."""
    out = []
    for t in pipeline:
        t = copy.deepcopy(t)
        kind = t.get('type') if isinstance(t, dict) else None
        if isinstance(kind, str) and kind.split('.')[-1] in LABEL_TRANSFORMS:
            continue
        if isinstance(t, dict) and isinstance(t.get('transforms'), list):
            t['transforms'] = strip_target_labels(t['transforms'])
        if kind == 'RandomCrop' and t.get('cat_max_ratio', 1.0) < 1.0:
            t['cat_max_ratio'] = 1.0
        out.append(t)
    return out


def _point_at_pseudo_labels(target: dict, root: str) -> dict:
    """The target dataset config with its label folder replaced by the
    pseudo-label folder ``root`` (train ids: no label table)."""
    root = Path(root)
    if not root.is_dir():
        raise DAKPNInputError(f'target_pseudo_labels folder does not exist: '
                              f'{root}')
    prefix = dict(target.get('data_prefix') or {})
    own = prefix.get('seg_map_path')
    if own is not None:
        own = Path(target.get('data_root') or '') / own
        if own.resolve() == root.resolve():
            raise DAKPNInputError(
                f'target_pseudo_labels is the target\'s own label folder '
                f'({root}): target labels never reach training')
    prefix['seg_map_path'] = str(root.resolve())
    target['data_prefix'] = prefix
    return target


def _label_counts(dataset, num_classes: int) -> np.ndarray:
    """(N, num_classes) pixel counts per source image, from its labels
    through the dataset's own label loading and id mapping."""
    steps = [t for t in dataset.pipeline.transforms
             if type(t).__name__ in LABEL_TRANSFORMS]
    if not any(type(t).__name__ == 'LoadAnnotations' for t in steps):
        raise DAKPNInputError(
            'rare_class_sampling needs a source pipeline with '
            'LoadAnnotations')
    n = len(dataset)
    counts = np.zeros((n, num_classes), np.int64)
    step = max(1, n // 10)
    for i in range(n):
        results = copy.deepcopy(dataset.get_data_info(i))
        for t in steps:
            results = t(results)
        seg = results['gt_seg_map']
        valid = seg[seg < num_classes]
        counts[i] = np.bincount(valid.ravel(), minlength=num_classes)
        if (i + 1) % step == 0 or i + 1 == n:
            print_log(f'rare class sampling: class statistics {i + 1}/{n}',
                      logger='current')
    return counts


class RareClassSampler:
    """DAFormer's rare-class sampling over per-image class pixel counts.

    Args:
        counts: (N, C) pixels of each class in each source image.
        temperature: T; smaller favours rare classes more (DAFormer 0.01).
        min_pixels: an image counts for a class with at least this many of
            its pixels (DAFormer 3000 at GTA5 resolution).
    """

    def __init__(self, counts: np.ndarray, temperature: float = 0.01,
                 min_pixels: int = 3000):
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        counts = np.asarray(counts, np.float64)
        self.candidates: List[np.ndarray] = []
        classes = []
        for c in range(counts.shape[1]):
            idx = np.nonzero(counts[:, c] >= min_pixels)[0]
            if len(idx):
                classes.append(c)
                self.candidates.append(idx)
        if not classes:
            raise DAKPNInputError(
                f'rare_class_sampling: no source image has min_pixels='
                f'{min_pixels} pixels of any class; lower min_pixels')
        self.classes = np.array(classes)
        freq = counts.sum(0)[self.classes] / max(counts.sum(), 1.0)
        logits = (1.0 - freq) / temperature
        p = np.exp(logits - logits.max())
        self.probs = p / p.sum()

    def draw(self, rng: np.random.Generator) -> int:
        k = int(rng.choice(len(self.classes), p=self.probs))
        cand = self.candidates[k]
        return int(cand[rng.integers(len(cand))])


class UDADataset(Dataset):
    """A labelled source dataset paired with an unlabelled target dataset.

    Each item is ``dict(source=..., target=...)``, both packed mmseg
    samples (``inputs``, ``data_samples``); the target's data sample has no
    ``gt_sem_seg``. The length is the source's.

    Args:
        source: mmseg dataset config of the labelled (synthetic) data.
        target: mmseg dataset config of the real data; its labels, if any,
            are never loaded.
        seed: pairing and augmentation seed.
        rare_class_sampling: ``dict(temperature=0.01, min_pixels=3000,
            cache_file=None)`` to draw source images by rare classes, or
            None for the sampler's order.
        target_pseudo_labels: a folder of pseudo labels made by a model
            (``dakpn_aug.uda.symmetric.write_pseudo_labels``), laid out as
            the target's label folder (train ids, 255 = none). They go
            through the target pipeline like labels (so crops and flips
            match) and arrive as ``pseudo_sem_seg``; the target's own label
            folder is still never read (refused if it is that folder).

    Example config::

        train_dataloader = dict(
            batch_size=2, sampler=dict(type='InfiniteSampler'),
            dataset=dict(type='UDADataset', seed=0,
                         source=dict(type='GTA5Dataset', ...),
                         target=dict(type='CityscapesLabelIdsDataset', ...)))
    """

    def __init__(self, source: dict, target: dict, seed: int = 0,
                 rare_class_sampling: Optional[dict] = None,
                 target_pseudo_labels: Optional[str] = None):
        from mmengine.registry import DefaultScope, init_default_scope
        from mmseg.registry import DATASETS
        if DefaultScope.get_current_instance() is None:
            init_default_scope('mmseg')  # used outside a Runner
        target = copy.deepcopy(dict(target))
        self.pseudo = target_pseudo_labels is not None
        if self.pseudo:
            target = _point_at_pseudo_labels(target, target_pseudo_labels)
        else:
            target['pipeline'] = strip_target_labels(
                target.get('pipeline', []))
            target_cls = DATASETS.get(target.get('type'))
            if isinstance(target_cls, type) and issubclass(target_cls,
                                                           _PairedSegMixin):
                target['with_labels'] = False  # no label folder needed
        self.source = DATASETS.build(source)
        self.target = DATASETS.build(target)
        for name, ds in (('source', self.source), ('target', self.target)):
            if len(ds) == 0:
                raise DAKPNInputError(f'UDADataset: the {name} dataset is '
                                      'empty')
        self.seed = int(seed)
        self.rank = get_rank()
        self.metainfo = self.source.metainfo
        self.rcs = None
        if rare_class_sampling is not None:
            self.rcs = self._build_rcs(**rare_class_sampling)

    def _build_rcs(self, temperature: float = 0.01, min_pixels: int = 3000,
                   cache_file: Optional[str] = None) -> RareClassSampler:
        num_classes = len(self.source.metainfo['classes'])
        keys = [info.get('seg_map_path') for info in
                (self.source.get_data_info(i)
                 for i in range(len(self.source)))]
        counts = None
        if cache_file and Path(cache_file).is_file():
            cached = json.loads(Path(cache_file).read_text())
            if cached.get('files') == keys:
                counts = np.array(cached['counts'], np.int64)
        if counts is None:
            counts = _label_counts(self.source, num_classes)
            if cache_file:
                Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
                Path(cache_file).write_text(json.dumps(
                    dict(files=keys, counts=counts.tolist())))
        return RareClassSampler(counts, temperature, min_pixels)

    def __len__(self) -> int:
        return len(self.source)

    def _run(self, dataset, index: int, seed_seq) -> dict:
        # mmseg/mmcv random transforms draw from the global numpy and
        # python generators: seed them per item, restore them afterwards.
        np_state, py_state = np.random.get_state(), random.getstate()
        seed = int(np.random.SeedSequence(seed_seq).generate_state(1)[0])
        np.random.seed(seed)
        random.seed(seed)
        try:
            return dataset[index]
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index), self.rank])
        s = self.rcs.draw(rng) if self.rcs is not None \
            else int(index) % len(self.source)
        t = int(rng.integers(len(self.target)))
        source = self._run(self.source, s,
                           [self.seed, int(index), self.rank, 0])
        target = self._run(self.target, t,
                           [self.seed, int(index), self.rank, 1])
        sample = target.get('data_samples')
        if sample is not None and 'gt_sem_seg' in sample:
            if self.pseudo:  # model-made labels, never the target's own
                sample.pseudo_sem_seg = sample.gt_sem_seg
            del sample.gt_sem_seg
        return dict(source=source, target=target)
