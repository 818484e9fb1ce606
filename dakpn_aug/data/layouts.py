"""The dataset layouts users have, in one place: how each is recognised,
where its images and labels are, and which mmseg dataset reads it.

Layouts (``layout='auto'`` recognises them by their folders):

- ``'gta5'``: ``ROOT/images/*.png`` with ``ROOT/labels/*.png`` of the same
  names (label ids);
- ``'cityscapes'``: ``ROOT/leftImg8bit/SPLIT/CITY/*_leftImg8bit.png`` with
  ``ROOT/gtFine/SPLIT/CITY/*_gtFine_labelIds.png``;
- ``'facesynthetics'``: ``ROOT/000000.png`` with ``ROOT/000000_seg.png``;
- ``'celebamask_hq'``: ``ROOT/CelebA-HQ-img/*.jpg`` (labels in
  ``ROOT/CelebAMask-HQ-label/*.png``);
- ``'folder'``: every image below ``ROOT`` (recursive), no labels.

Every problem (missing or empty folder, unreadable image) raises one
:class:`~dakpn_aug.errors.DAKPNInputError` naming the path.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

from ..errors import DAKPNInputError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
LAYOUTS = ('auto', 'gta5', 'cityscapes', 'facesynthetics', 'celebamask_hq',
           'folder')
#: The labelled layouts with separate image and label trees: layout ->
#: (image folder, label folder) under the root (Cityscapes: then SPLIT/).
LAYOUT_DIRS = {
    'gta5': ('images', 'labels'),
    'cityscapes': ('leftImg8bit', 'gtFine'),
}
#: The mmseg dataset types that read each of them (the first is dakpn-aug's
#: choice: CityscapesLabelIdsDataset reads labelTrainIds or, if absent,
#: labelIds).
DATASET_TYPES = {
    'gta5': ('GTA5Dataset', ),
    'cityscapes': ('CityscapesLabelIdsDataset', 'CityscapesDataset'),
}


def detect_layout(root: Union[str, Path]) -> str:
    root = Path(root)
    if (root / 'images').is_dir() and (root / 'labels').is_dir():
        return 'gta5'
    if (root / 'leftImg8bit').is_dir():
        return 'cityscapes'
    if (root / 'CelebA-HQ-img').is_dir():
        return 'celebamask_hq'
    if next(root.glob('*_seg.png'), None) is not None:
        return 'facesynthetics'
    return 'folder'


def check_dir(path: Path, what: str) -> None:
    """One clear error for a dataset folder that is missing or a file."""
    if not path.exists():
        raise DAKPNInputError(f'{what} folder does not exist: {path}')
    if not path.is_dir():
        raise DAKPNInputError(f'{what} is not a folder: {path}')


def list_images(root: Union[str, Path],
                layout: str = 'auto',
                split: Optional[str] = 'train') -> List[Path]:
    """Sorted image files of a dataset root in one of :data:`LAYOUTS`."""
    root = Path(root)
    check_dir(root, 'dataset')
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if layout == 'auto':
        layout = detect_layout(root)
    if layout == 'gta5':
        folder = root / 'images'
        check_dir(folder, 'GTA5 images')
        files = [p for p in folder.iterdir()
                 if p.suffix.lower() in IMAGE_SUFFIXES]
    elif layout == 'cityscapes':
        folder = root / 'leftImg8bit' / split if split else root / 'leftImg8bit'
        check_dir(folder, f'Cityscapes leftImg8bit/{split or ""}')
        files = list(folder.rglob('*_leftImg8bit.png'))
    elif layout == 'facesynthetics':
        folder = root
        files = [p for p in root.glob('*.png')
                 if not p.stem.endswith('_seg')]
    elif layout == 'celebamask_hq':
        folder = root / 'CelebA-HQ-img'
        check_dir(folder, 'CelebAMask-HQ CelebA-HQ-img')
        files = [p for p in folder.iterdir()
                 if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        folder = root
        files = [p for p in root.rglob('*')
                 if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise DAKPNInputError(
            f'no images found in {folder} (layout {layout!r}; expected '
            f'{_EXPECT[layout]})')
    return sorted(files)


_EXPECT = {
    'gta5': 'images/*.png',
    'cityscapes': 'leftImg8bit/SPLIT/CITY/*_leftImg8bit.png',
    'facesynthetics': '000000.png beside 000000_seg.png',
    'celebamask_hq': 'CelebA-HQ-img/*.jpg',
    'folder': f'files ending in {", ".join(IMAGE_SUFFIXES)}',
}


#: Suffixes that name the same frame in image and label file names
#: (Cityscapes: X_leftImg8bit.png / X_gtFine_labelIds.png; FaceSynthetics:
#: X.png / X_seg.png; GTA5 and plain folders: the same name).
_IMAGE_NAME_SUFFIXES = ('_leftImg8bit', )
_LABEL_NAME_SUFFIXES = ('_gtFine_labelIds', '_labelIds', '_seg')


def _frame_key(path: Path, suffixes: Sequence[str]) -> str:
    stem = path.stem
    for s in suffixes:
        if stem.endswith(s):
            return stem[:-len(s)]
    return stem


def match_labels(images: Sequence[Path],
                 label_root: Union[str, Path]) -> List[Path]:
    """The label map of each image, found below ``label_root`` by frame
    name (see ``_LABEL_NAME_SUFFIXES``; label ids, single-channel PNG).

    Raises:
        DAKPNInputError: the folder is missing, or an image has no label
            (naming the first few), or two labels claim the same frame.
    """
    root = Path(label_root)
    check_dir(root, 'label')
    table: dict = {}
    for p in root.rglob('*.png'):
        if p.stem.endswith(('_color', '_instanceIds', '_labelTrainIds')):
            continue  # Cityscapes' other gtFine files
        key = _frame_key(p, _LABEL_NAME_SUFFIXES)
        if key in table:
            raise DAKPNInputError(f'two label maps for frame {key!r} in '
                                  f'{root}: {table[key]} and {p}')
        table[key] = p
    out, missing = [], []
    for img in images:
        key = _frame_key(Path(img), _IMAGE_NAME_SUFFIXES)
        if key in table:
            out.append(table[key])
        else:
            missing.append(Path(img).name)
    if missing:
        raise DAKPNInputError(
            f'label folder {root} does not match the images: no label map '
            f'for {len(missing)} of {len(images)} images (e.g. '
            f'{", ".join(missing[:3])}); labels are matched by frame name '
            '(X.png or X_gtFine_labelIds.png for image X.png or '
            'X_leftImg8bit.png)')
    return out


def is_label_file(path: Union[str, Path], layout: str) -> bool:
    """Whether a file found among a layout's images is a label map (the
    FaceSynthetics layout keeps ``X_seg.png`` beside ``X.png``)."""
    return layout == 'facesynthetics' and Path(path).stem.endswith('_seg')


def layout_labels(root: Union[str, Path], images: Sequence[Path],
                  layout: str) -> List[Path]:
    """The label map of each image (relative to ``root`` or absolute) in
    a labelled ``layout``, as paths under ``root``.

    Raises:
        DAKPNInputError: an unlabelled layout, or an image without its
            label map (see :func:`match_labels`).
    """
    root = Path(root)
    if layout == 'facesynthetics':
        labels = [root / Path(p).with_name(Path(p).stem + '_seg.png')
                  for p in images]
        missing = [p.name for p in labels if not p.is_file()]
        if missing:
            raise DAKPNInputError(
                f'{root}: no label map for {len(missing)} of {len(images)} '
                f'images (e.g. {", ".join(missing[:3])})')
        return labels
    if layout not in LAYOUT_DIRS:
        raise DAKPNInputError(f'{root}: layout {layout!r} has no labels')
    return match_labels(images, root / LAYOUT_DIRS[layout][1])


def train_id_map(layout: str):
    """The function mapping a ``layout``'s label files (uint8 label ids)
    to the train ids an encoder trained on it predicts (Cityscapes' 19
    classes; the shared face classes), or None for an unlabelled layout."""
    if layout in ('gta5', 'cityscapes'):
        from .cityscapes_labels import label_ids_to_train_ids
        return label_ids_to_train_ids
    if layout == 'facesynthetics':
        from .face_labels import facesynthetics_to_face
        return facesynthetics_to_face
    if layout == 'celebamask_hq':
        from .face_labels import celebamask_hq_to_face
        return celebamask_hq_to_face
    return None


def labelled_layout(root: Union[str, Path]) -> str:
    """``'gta5'`` or ``'cityscapes'``: a root with both its image and its
    label tree (one clear error for anything else)."""
    root = Path(root)
    check_dir(root, 'data root')
    for layout, (img, lbl) in LAYOUT_DIRS.items():
        if (root / img).is_dir() and (root / lbl).is_dir():
            return layout
    raise DAKPNInputError(
        f'{root} is neither a GTA5-layout folder (images/, labels/) nor a '
        'Cityscapes-layout folder (leftImg8bit/SPLIT/, gtFine/SPLIT/)')


def dataset_layout(dataset_cfg) -> Optional[str]:
    """The layout an mmseg dataset config reads (None: another type)."""
    t = dataset_cfg.get('type')
    t = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    t = t.split('.')[-1]
    return next((layout for layout, types in DATASET_TYPES.items()
                 if t in types), None)


def dataset_config(layout: str, root: Union[str, Path], split: str,
                   pipeline=()) -> dict:
    """An mmseg dataset config reading ``root`` of a labelled ``layout``
    (Cityscapes: its ``split``)."""
    cfg = dict(type=DATASET_TYPES[layout][0], data_root=str(root),
               pipeline=list(pipeline))
    if layout == 'cityscapes':
        img, lbl = LAYOUT_DIRS[layout]
        cfg['data_prefix'] = dict(img_path=f'{img}/{split}',
                                  seg_map_path=f'{lbl}/{split}')
    return cfg
