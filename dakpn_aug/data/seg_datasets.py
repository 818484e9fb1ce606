"""mmseg datasets for the layouts DA-KPN is trained and evaluated on.

Importing this module imports mmseg (``import dakpn_aug`` must come first on
mmcv-lite installs, which it does through the package). The datasets are
registered in mmseg's ``DATASETS`` by :mod:`dakpn_aug.mmseg`; the transform
:class:`MapLabelIdsToTrainIds` is registered in ``TRANSFORMS`` on import.

Datasets (all yield mmseg samples whose ``gt_seg_map`` holds *train ids*,
255 = ignore):

- :class:`GTA5Dataset`: ``ROOT/images/*.png`` + ``ROOT/labels/*.png`` (same
  names) holding Cityscapes label ids;
- :class:`CityscapesLabelIdsDataset`: mmseg's ``CityscapesDataset`` that
  reads ``*_gtFine_labelTrainIds.png`` when present and otherwise maps
  ``*_gtFine_labelIds.png`` on the fly (no conversion step needed);
- :class:`ImageFolderSegDataset`: any ``img_dir``/``ann_dir`` pair, with an
  optional label table (``label_map_name``);
- :class:`FaceSyntheticsDataset` / :class:`CelebAMaskHQDataset`: the face
  pair of paper section 4.2, both mapped to the shared face classes of
  :mod:`dakpn_aug.data.face_labels`.

How label ids become train ids
------------------------------
Not with mmseg's ``label_map`` (``LoadAnnotations`` applies it as one
full-image compare-and-assign per dict entry: every id 0..255 must be listed
or it leaks through unmapped, and 256 passes over a 1914x1052 GTA5 label
cost ~0.3 s per sample; the dict also lives in ``metainfo``, where mmseg
uses it for class subsets and palettes). Instead each sample carries a
256-entry look-up table (``label_lut``, already composed with a
``metainfo=dict(classes=...)`` class subset) and the registered transform
:class:`MapLabelIdsToTrainIds` applies it with one gather (~2 ms),
covering all 256 values by construction. The datasets insert that
transform right after every ``LoadAnnotations`` of their pipeline
(including inside ``TestTimeAug``) unless it is already there, so standard
mmseg pipelines work unchanged and nothing label-dependent (``RandomCrop``'s
``cat_max_ratio``, ``seg_pad_val``) ever sees raw ids. The transform is
idempotent: a sample is mapped once even if the transform appears twice.

Every problem with the files raises one
:class:`~dakpn_aug.errors.DAKPNInputError` naming the path: missing data
root, images or labels folder; no images; an image without its label file
or a label file without its image; a missing split file or a split entry
without its image.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadAnnotations as _MMCVLoadAnnotations
from mmseg.datasets import BaseSegDataset, CityscapesDataset
from mmseg.registry import TRANSFORMS

from ..errors import DAKPNInputError
from .layouts import check_dir as _check_dir
from .cityscapes_labels import (IGNORE_INDEX, TRAIN_CLASSES, TRAIN_PALETTE,
                                label_ids_to_train_ids)
from .face_labels import (CELEBAMASK_HQ_LUT, FACE_CLASSES, FACE_PALETTE,
                          FACESYNTHETICS_LUT)

__all__ = [
    'LABEL_TABLES', 'LabelTable', 'get_label_table', 'MapLabelIdsToTrainIds',
    'GTA5Dataset', 'CityscapesLabelIdsDataset', 'ImageFolderSegDataset',
    'FaceSyntheticsDataset', 'CelebAMaskHQDataset'
]


class LabelTable(NamedTuple):
    """A label-id -> train-id table: 256-entry uint8 LUT and its classes."""
    lut: np.ndarray
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]


#: Named label tables (``label_map_name`` / ``MapLabelIdsToTrainIds(table)``).
LABEL_TABLES: Dict[str, LabelTable] = {
    'cityscapes': LabelTable(
        label_ids_to_train_ids(np.arange(256, dtype=np.uint8)),
        TRAIN_CLASSES, TRAIN_PALETTE),
    'facesynthetics': LabelTable(FACESYNTHETICS_LUT, FACE_CLASSES,
                                 FACE_PALETTE),
    'celebamask-hq': LabelTable(CELEBAMASK_HQ_LUT, FACE_CLASSES,
                                FACE_PALETTE),
}


def get_label_table(name: str) -> LabelTable:
    if name not in LABEL_TABLES:
        raise ValueError(f'unknown label table {name!r}; known: '
                         f'{sorted(LABEL_TABLES)}')
    return LABEL_TABLES[name]


# --------------------------------------------------------------------------
# The mapping transform
# --------------------------------------------------------------------------
class MapLabelIdsToTrainIds(BaseTransform):
    """Map ``gt_seg_map`` from label ids to train ids with a 256-entry LUT.

    Place it right after ``LoadAnnotations`` (the datasets of this module
    insert it there themselves). The LUT is the sample's own ``label_lut``
    (set by those datasets, ``None`` when the file already holds train
    ids) or, for samples without one, the named ``table`` (e.g.
    ``'cityscapes'``, to use it with any mmseg dataset). Applying it twice
    is harmless: the sample is marked ``label_ids_mapped``.

    Required keys: ``gt_seg_map``. Modified keys: ``gt_seg_map`` (uint8).
    Added keys: ``label_ids_mapped``.

    Args:
        table: name in :data:`LABEL_TABLES` used when a sample carries no
            ``label_lut`` key; None leaves such samples unchanged.
    """

    def __init__(self, table: Optional[str] = None):
        self.table = table
        self._lut = get_label_table(table).lut if table else None

    def transform(self, results: dict) -> dict:
        if results.get('label_ids_mapped'):
            return results
        if 'label_lut' in results:
            lut = results['label_lut']
        else:
            lut = self._lut
        if lut is None:
            return results
        if 'gt_seg_map' not in results:
            raise KeyError(
                'MapLabelIdsToTrainIds needs gt_seg_map: place it right '
                f'after LoadAnnotations (sample {results.get("img_path")})')
        lut = np.frombuffer(lut, np.uint8) if isinstance(
            lut, (bytes, bytearray)) else np.asarray(lut, np.uint8)
        seg = results['gt_seg_map']
        if seg.dtype == np.uint8:
            out = lut[seg]
        else:  # ids outside 0..255 are not in any table: ignore them
            ok = (seg >= 0) & (seg < 256)
            out = np.where(ok, lut[np.clip(seg, 0, 255).astype(np.intp)],
                           np.uint8(IGNORE_INDEX)).astype(np.uint8)
        results['gt_seg_map'] = out
        results['label_lut'] = None
        results['label_ids_mapped'] = True
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(table={self.table!r})'


if TRANSFORMS.get('MapLabelIdsToTrainIds') is not MapLabelIdsToTrainIds:
    TRANSFORMS.register_module(module=MapLabelIdsToTrainIds, force=True)


def _insert_mapping(node) -> int:
    """Insert :class:`MapLabelIdsToTrainIds` right after every
    ``LoadAnnotations`` below ``node`` (Compose, TestTimeAug, RandomChoice,
    ...). Returns how many ``LoadAnnotations`` were found."""
    found = 0
    transforms = getattr(node, 'transforms', None)
    if isinstance(transforms, list):
        i = 0
        while i < len(transforms):
            t = transforms[i]
            if isinstance(t, _MMCVLoadAnnotations):
                found += 1
                nxt = transforms[i + 1] if i + 1 < len(transforms) else None
                if not isinstance(nxt, MapLabelIdsToTrainIds):
                    transforms.insert(i + 1, MapLabelIdsToTrainIds())
                i += 1
            else:
                found += _insert_mapping(t)
            i += 1
    elif transforms is not None:
        found += _insert_mapping(transforms)
    for sub in getattr(node, 'subroutines', None) or []:
        found += _insert_mapping(sub)
    return found


# --------------------------------------------------------------------------
# Finding image/label pairs
# --------------------------------------------------------------------------
def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', s)]


def _scan(folder: Path, suffix: str, recursive: bool,
          exclude: Sequence[str] = ()) -> Dict[str, Path]:
    """stem ('/'-separated path relative to ``folder``, without ``suffix``)
    -> file, for the files ending in ``suffix`` (but not in ``exclude``)."""
    out: Dict[str, Path] = {}
    if recursive:
        walk = ((Path(d), files) for d, _, files in os.walk(folder))
    else:
        walk = [(folder, [e.name for e in os.scandir(folder)
                          if e.is_file()])]
    for d, files in walk:
        for name in files:
            if not name.endswith(suffix) or any(
                    name.endswith(x) for x in exclude):
                continue
            path = d / name
            rel = path.relative_to(folder).as_posix()
            out[rel[:-len(suffix)]] = path
    return out


def _examples(paths: List[str], n: int = 3) -> str:
    more = f' (and {len(paths) - n} more)' if len(paths) > n else ''
    return ', '.join(paths[:n]) + more


class _PairedSegMixin:
    """Shared loading logic: pairs images with label files by stem, checks
    every path, attaches the label LUT and inserts the mapping transform.

    ``with_labels=False`` (every dataset below takes it) lists the images
    only: label files are neither required nor read (an unlabelled target
    domain, as ``UDADataset`` builds its target).

    Subclasses define ``_label_sources()``: ``[(seg_map_suffix, table)]``
    in order of preference (``table`` None = file holds train ids), and
    may set ``_recursive``.
    """

    _recursive = True

    def _init_mixin(self, holdout_every: int, subset: str,
                    with_labels: bool = True) -> None:
        # with_labels=False: images only (an unlabelled target domain);
        # label files are neither required nor read.
        self.with_labels = bool(with_labels)
        if subset not in ('all', 'train', 'holdout'):
            raise ValueError(f"subset must be 'all', 'train' or 'holdout', "
                             f'got {subset!r}')
        if subset != 'all' and int(holdout_every) < 2:
            raise ValueError(f'subset={subset!r} needs holdout_every >= 2, '
                             f'got {holdout_every}')
        self.holdout_every = int(holdout_every)
        self.subset = subset

    def _label_sources(self) -> List[Tuple[str, Optional[str]]]:
        raise NotImplementedError

    def _finish_init(self) -> None:
        if self.reduce_zero_label and any(
                t for _, t in self._label_sources()):
            raise ValueError(f'{type(self).__name__}: reduce_zero_label is '
                             'not supported with a label table (the table '
                             'decides what is ignored)')
        _insert_mapping(self.pipeline)

    def _lut_bytes(self, table: Optional[str]) -> Optional[bytes]:
        """The table's LUT composed with the class-subset ``label_map``
        (None when neither applies)."""
        if table is None:
            return None
        lut = get_label_table(table).lut
        if self.label_map:
            remap = np.arange(256, dtype=np.uint8)
            for old, new in self.label_map.items():
                remap[old] = new
            remap[IGNORE_INDEX] = IGNORE_INDEX
            lut = remap[lut]
        return lut.tobytes()

    def _select_subset(self, stems: List[str]) -> List[str]:
        if self.subset == 'all':
            return stems
        k = self.holdout_every
        held = self.subset == 'holdout'
        return [s for i, s in enumerate(stems) if (i % k == k - 1) == held]

    def _image_list(self, img_dir: Path) -> List[dict]:
        images = _scan(img_dir, self.img_suffix, self._recursive, [])
        if not images:
            raise DAKPNInputError(
                f'no images ending in {self.img_suffix!r} found in '
                f'{img_dir}')
        stems = sorted(images, key=_natural_key)
        stems = self._select_subset(stems)
        return [dict(img_path=str(images[s]), seg_map_path=None,
                     label_map=None, label_lut=None,
                     reduce_zero_label=self.reduce_zero_label, seg_fields=[])
                for s in stems]

    def load_data_list(self) -> List[dict]:
        if self.data_root is not None:
            _check_dir(Path(self.data_root), f'{type(self).__name__} root')
        img_dir = self.data_prefix.get('img_path') or ''
        ann_dir = self.data_prefix.get('seg_map_path') or ''
        if not img_dir or (self.with_labels and not ann_dir):
            raise ValueError(f'{type(self).__name__}: set data_root or both '
                             'data_prefix img_path and seg_map_path')
        img_dir = Path(img_dir)
        _check_dir(img_dir, 'images')
        if not self.with_labels:
            return self._image_list(img_dir)
        ann_dir = Path(ann_dir)
        _check_dir(ann_dir, 'labels')
        sources = self._label_sources()
        same_dir = img_dir.resolve() == ann_dir.resolve()
        exclude = [s for s, _ in sources if s != self.img_suffix] \
            if same_dir else []
        if same_dir and any(s == self.img_suffix for s, _ in sources):
            raise ValueError('images and labels in one folder need different '
                             f'suffixes, got {self.img_suffix!r} for both')
        images = _scan(img_dir, self.img_suffix, self._recursive, exclude)
        if not images:
            raise DAKPNInputError(
                f'no images ending in {self.img_suffix!r} found in '
                f'{img_dir}')
        labels = [(s, t, _scan(ann_dir, s, self._recursive))
                  for s, t in sources]

        if self.ann_file:
            split = Path(self.ann_file)
            if not split.is_file():
                raise DAKPNInputError(f'split file does not exist: {split}')
            stems = [ln.strip() for ln in split.read_text().splitlines()
                     if ln.strip()]
            if not stems:
                raise DAKPNInputError(f'split file lists no images: {split}')
            lost = [str(img_dir / (s + self.img_suffix)) for s in stems
                    if s not in images]
            if lost:
                raise DAKPNInputError(
                    f'{len(lost)} images listed in {split} do not exist: '
                    f'{_examples(lost)}')
        else:
            stems = sorted(images, key=_natural_key)
            found = set(images)
            orphans = sorted(str(p) for _, _, lbl in labels
                             for s, p in lbl.items() if s not in found)
            if orphans:
                raise DAKPNInputError(
                    f'{len(orphans)} label files have no image ending in '
                    f'{self.img_suffix!r} in {img_dir}: {_examples(orphans)}')

        stems = self._select_subset(stems)

        luts = {t: self._lut_bytes(t) for _, t, _ in labels}
        data_list, unlabelled = [], []
        for stem in stems:
            for suffix, table, lbl in labels:
                if stem in lbl:
                    break
            else:
                want = ann_dir / (stem + sources[0][0])
                unlabelled.append(f'{images[stem]} (expected {want})')
                continue
            lut = luts[table]
            data_list.append(dict(
                img_path=str(images[stem]),
                seg_map_path=str(lbl[stem]),
                # With a LUT the class subset is composed into it, so
                # LoadAnnotations must not remap again.
                label_map=None if lut is not None else self.label_map,
                label_lut=lut,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]))
        if unlabelled:
            raise DAKPNInputError(
                f'{len(unlabelled)} images have no label file: '
                f'{_examples(unlabelled)}')
        if not data_list:
            raise DAKPNInputError(
                f'no samples left in {img_dir} (subset={self.subset!r}, '
                f'holdout_every={self.holdout_every})')
        return data_list


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------
def _palette(colors) -> list:
    return [list(c) for c in colors]


class GTA5Dataset(_PairedSegMixin, BaseSegDataset):
    """GTA5 (Playing for Data): ``data_root/images/*.png`` with
    ``data_root/labels/*.png`` of the same names holding Cityscapes label
    ids, mapped to the 19 Cityscapes train ids (255 = ignore) with the
    label table of :mod:`dakpn_aug.data.cityscapes_labels`.

    Args:
        data_root: the folder holding ``images/`` and ``labels/``.
        ann_file: optional split file (relative to ``data_root`` or
            absolute), one file stem per line (``00001``).
        holdout_every / subset: deterministic hold-out without a split file:
            every ``holdout_every``-th image (in natural name order) forms
            ``subset='holdout'``, the others ``subset='train'``;
            ``'all'`` (default) keeps everything.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments
            (``pipeline``, ``metainfo=dict(classes=...)`` subsets, ...).
    """
    METAINFO = dict(classes=TRAIN_CLASSES, palette=_palette(TRAIN_PALETTE))
    _recursive = False

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(img_path='images',
                                          seg_map_path='labels'),
                 holdout_every: int = 0,
                 subset: str = 'all',
                 with_labels: bool = True,
                 **kwargs) -> None:
        self._init_mixin(holdout_every, subset, with_labels)
        super().__init__(data_root=data_root, ann_file=ann_file,
                         img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         data_prefix=copy.copy(data_prefix), **kwargs)
        self._finish_init()

    def _label_sources(self):
        return [(self.seg_map_suffix, 'cityscapes')]


class CityscapesLabelIdsDataset(_PairedSegMixin, CityscapesDataset):
    """mmseg's ``CityscapesDataset`` without the conversion step.

    Per image it reads ``*_gtFine_labelTrainIds.png`` when present (what
    ``CityscapesDataset`` reads; mmseg's ``tools/dataset_converters/
    cityscapes.py`` writes them) and otherwise ``*_gtFine_labelIds.png``
    (the files Cityscapes ships), mapped to train ids on the fly with the
    label table. Layout as in mmseg: ``data_root/leftImg8bit/SPLIT/CITY/``
    and ``data_root/gtFine/SPLIT/CITY/`` (``data_prefix``).

    Args:
        label_ids_suffix: suffix of the label-id files.
        holdout_every / subset: as in :class:`GTA5Dataset`.
        **kwargs: :class:`mmseg.datasets.CityscapesDataset` arguments
            (``data_root``, ``data_prefix``, ``ann_file`` of
            ``CITY/CITY_xxxxxx_xxxxxx`` stems, ``pipeline``, ...).
    """

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 label_ids_suffix: str = '_gtFine_labelIds.png',
                 holdout_every: int = 0,
                 subset: str = 'all',
                 with_labels: bool = True,
                 **kwargs) -> None:
        self.label_ids_suffix = label_ids_suffix
        self._init_mixin(holdout_every, subset, with_labels)
        super().__init__(img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, **kwargs)
        self._finish_init()

    def _label_sources(self):
        if self.seg_map_suffix == self.label_ids_suffix:
            return [(self.label_ids_suffix, 'cityscapes')]
        return [(self.seg_map_suffix, None),
                (self.label_ids_suffix, 'cityscapes')]


class ImageFolderSegDataset(_PairedSegMixin, BaseSegDataset):
    """Any image folder with a label folder (same relative stems).

    Args:
        img_dir / ann_dir: the folders (relative to ``data_root`` if given);
            searched recursively; may be the same folder if the suffixes
            differ.
        img_suffix / seg_map_suffix: file name endings (``'.jpg'``,
            ``'_seg.png'``...).
        label_map_name: label table the files use (``'cityscapes'`` label
            ids, ``'facesynthetics'``, ``'celebamask-hq'``; see
            :data:`LABEL_TABLES`), or None when they already hold train ids.
        metainfo: ``classes``/``palette``; default the table's classes
            (Cityscapes' 19 when ``label_map_name`` is None).
    """
    METAINFO: dict = dict()

    def __init__(self,
                 img_dir: str,
                 ann_dir: str,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 label_map_name: Optional[str] = 'cityscapes',
                 data_root: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 holdout_every: int = 0,
                 subset: str = 'all',
                 with_labels: bool = True,
                 **kwargs) -> None:
        self.label_map_name = label_map_name
        table = get_label_table(label_map_name or 'cityscapes')
        meta = dict(metainfo or {})
        if 'classes' not in meta:
            meta['classes'] = table.classes
            meta.setdefault('palette', _palette(table.palette))
        self._init_mixin(holdout_every, subset, with_labels)
        super().__init__(data_root=data_root, metainfo=meta,
                         img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         data_prefix=dict(img_path=img_dir,
                                          seg_map_path=ann_dir), **kwargs)
        self._finish_init()

    def _label_sources(self):
        return [(self.seg_map_suffix, self.label_map_name)]


class FaceSyntheticsDataset(_PairedSegMixin, BaseSegDataset):
    """FaceSynthetics (Wood et al. 2021): one folder with ``000000.png``
    images and ``000000_seg.png`` label maps (``*_ldmks.txt`` ignored),
    mapped to the shared face classes of :mod:`dakpn_aug.data.face_labels`
    (:data:`~dakpn_aug.data.face_labels.FACE_CLASSES`).

    Args:
        data_root: the dataset folder (e.g. ``dataset_100000``).
        holdout_every / subset: as in :class:`GTA5Dataset` (FaceSynthetics
            has no official split).
    """
    METAINFO = dict(classes=FACE_CLASSES, palette=_palette(FACE_PALETTE))
    _recursive = False

    def __init__(self,
                 data_root: Optional[str] = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_seg.png',
                 data_prefix: dict = dict(img_path='', seg_map_path=''),
                 holdout_every: int = 0,
                 subset: str = 'all',
                 with_labels: bool = True,
                 **kwargs) -> None:
        self._init_mixin(holdout_every, subset, with_labels)
        super().__init__(data_root=data_root, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         data_prefix=copy.copy(data_prefix), **kwargs)
        self._finish_init()

    def _label_sources(self):
        return [(self.seg_map_suffix, 'facesynthetics')]


class CelebAMaskHQDataset(_PairedSegMixin, BaseSegDataset):
    """CelebAMask-HQ: ``data_root/CelebA-HQ-img/{i}.jpg`` with combined
    label maps ``data_root/CelebAMask-HQ-label/{i}.png`` (the 19 classes in
    the order of the dataset's ``g_mask.py``), mapped to the shared face
    classes of :mod:`dakpn_aug.data.face_labels`.

    CelebA-HQ images are 1024x1024 while the label maps are 512x512: the
    pipeline must resize both to one size (e.g. ``Resize(scale=(512, 512),
    keep_ratio=False)`` before ``PackSegInputs``; mmseg resizes label maps
    with nearest neighbour). For evaluation at label resolution, put
    ``LoadAnnotations`` after the ``Resize`` as mmseg's test pipelines do.

    Args:
        data_root: the ``CelebAMask-HQ`` folder.
        ann_file: optional split file of stems (``0``, ``1``, ...).
        holdout_every / subset: as in :class:`GTA5Dataset`.
    """
    METAINFO = dict(classes=FACE_CLASSES, palette=_palette(FACE_PALETTE))
    _recursive = False

    def __init__(self,
                 data_root: Optional[str] = None,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(img_path='CelebA-HQ-img',
                                          seg_map_path='CelebAMask-HQ-label'),
                 holdout_every: int = 0,
                 subset: str = 'all',
                 with_labels: bool = True,
                 **kwargs) -> None:
        self._init_mixin(holdout_every, subset, with_labels)
        super().__init__(data_root=data_root, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         data_prefix=copy.copy(data_prefix), **kwargs)
        self._finish_init()

    def _label_sources(self):
        return [(self.seg_map_suffix, 'celebamask-hq')]
