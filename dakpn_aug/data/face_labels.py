"""FaceSynthetics -> CelebAMask-HQ: both label sets and their shared classes,
in one table.

DA-KPN's second experiment (paper section 4.2) translates FaceSynthetics
(Wood et al. 2021, synthetic renders) towards CelebAMask-HQ (real photos)
and "processes FaceSynthetics classes to align with those from CelebA".
:data:`FACE_CLASS_TABLE` is that alignment: each row is one class of the
shared face-parsing set (:data:`FACE_CLASSES`, train ids in row order) with
the FaceSynthetics and CelebAMask-HQ classes that become it; the last row
lists the classes that become ``255`` (ignored in the loss and in IoU).
Everything else here is derived from it.

Native label ids
----------------
FaceSynthetics ``*_seg.png`` (:data:`FACESYNTHETICS_CLASSES`): 0 BACKGROUND,
1 SKIN, 2 NOSE, 3 RIGHT_EYE, 4 LEFT_EYE, 5 RIGHT_BROW, 6 LEFT_BROW,
7 RIGHT_EAR, 8 LEFT_EAR, 9 MOUTH_INTERIOR, 10 TOP_LIP, 11 BOTTOM_LIP,
12 NECK, 13 HAIR, 14 BEARD, 15 CLOTHING, 16 GLASSES, 17 HEADWEAR,
18 FACEWEAR, 255 ignore.

CelebAMask-HQ combined label maps (:data:`CELEBAMASK_HQ_CLASSES`, the order
of the dataset's ``g_mask.py``): 0 background, 1 skin, 2 nose, 3 eye_g,
4 l_eye, 5 r_eye, 6 l_brow, 7 r_brow, 8 l_ear, 9 r_ear, 10 mouth, 11 u_lip,
12 l_lip, 13 hair, 14 hat, 15 ear_r, 16 neck_l, 17 neck, 18 cloth.

Choices
-------
* **Left and right are merged** (``eye``, ``brow``, ``ear``). FaceSynthetics
  names sides from the subject's point of view, while CelebAMask-HQ's
  ``l_``/``r_`` convention is not documented and is reported inconsistently
  by its users; a wrong guess would silently swap two classes. Merging is
  also what horizontal-flip augmentation needs: mmseg's ``RandomFlip``
  mirrors the label map without swapping left/right classes.
* ``MOUTH_INTERIOR`` -> ``mouth``: CelebAMask-HQ's ``mouth`` is the area
  between the lips (teeth, tongue).
* ``BEARD`` -> ``skin``: CelebAMask-HQ has no facial-hair class; beards and
  moustaches are annotated as skin there.
* ``GLASSES`` -> ``eye_g``, ``HEADWEAR`` -> ``hat``, ``TOP_LIP``/
  ``BOTTOM_LIP`` -> ``u_lip``/``l_lip``, ``CLOTHING`` -> ``cloth``.
* Ignored (255): FaceSynthetics ``FACEWEAR`` (masks, bandanas; no
  CelebAMask-HQ counterpart) and CelebAMask-HQ ``ear_r`` (earrings) and
  ``neck_l`` (necklaces), which FaceSynthetics never renders, so a model
  trained on it could not be scored fairly on them. Ids outside the native
  tables (and FaceSynthetics' own 255) are ignored too.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

IGNORE_INDEX = 255

#: FaceSynthetics classes by label id.
FACESYNTHETICS_CLASSES = (
    'BACKGROUND', 'SKIN', 'NOSE', 'RIGHT_EYE', 'LEFT_EYE', 'RIGHT_BROW',
    'LEFT_BROW', 'RIGHT_EAR', 'LEFT_EAR', 'MOUTH_INTERIOR', 'TOP_LIP',
    'BOTTOM_LIP', 'NECK', 'HAIR', 'BEARD', 'CLOTHING', 'GLASSES', 'HEADWEAR',
    'FACEWEAR')
#: CelebAMask-HQ classes by label id (combined label maps).
CELEBAMASK_HQ_CLASSES = (
    'background', 'skin', 'nose', 'eye_g', 'l_eye', 'r_eye', 'l_brow',
    'r_brow', 'l_ear', 'r_ear', 'mouth', 'u_lip', 'l_lip', 'hair', 'hat',
    'ear_r', 'neck_l', 'neck', 'cloth')


class FaceClass(NamedTuple):
    #: shared class name; None for the row of ignored classes
    name: Optional[str]
    facesynthetics: Tuple[str, ...]
    celebamask_hq: Tuple[str, ...]
    color: Tuple[int, int, int]


#: THE alignment table (train id = row index; the last row is ignored).
FACE_CLASS_TABLE = (
    FaceClass('background', ('BACKGROUND', ), ('background', ), (0, 0, 0)),
    FaceClass('skin', ('SKIN', 'BEARD'), ('skin', ), (204, 0, 0)),
    FaceClass('nose', ('NOSE', ), ('nose', ), (76, 153, 0)),
    FaceClass('eye_g', ('GLASSES', ), ('eye_g', ), (204, 204, 0)),
    FaceClass('eye', ('RIGHT_EYE', 'LEFT_EYE'), ('l_eye', 'r_eye'),
              (51, 51, 255)),
    FaceClass('brow', ('RIGHT_BROW', 'LEFT_BROW'), ('l_brow', 'r_brow'),
              (0, 255, 255)),
    FaceClass('ear', ('RIGHT_EAR', 'LEFT_EAR'), ('l_ear', 'r_ear'),
              (102, 51, 0)),
    FaceClass('mouth', ('MOUTH_INTERIOR', ), ('mouth', ), (102, 204, 0)),
    FaceClass('u_lip', ('TOP_LIP', ), ('u_lip', ), (255, 255, 0)),
    FaceClass('l_lip', ('BOTTOM_LIP', ), ('l_lip', ), (0, 0, 153)),
    FaceClass('hair', ('HAIR', ), ('hair', ), (0, 0, 204)),
    FaceClass('hat', ('HEADWEAR', ), ('hat', ), (255, 51, 153)),
    FaceClass('neck', ('NECK', ), ('neck', ), (255, 153, 51)),
    FaceClass('cloth', ('CLOTHING', ), ('cloth', ), (0, 204, 0)),
    FaceClass(None, ('FACEWEAR', ), ('ear_r', 'neck_l'), (0, 0, 0)),
)

#: The shared face-parsing classes, in train-id order.
FACE_CLASSES = tuple(r.name for r in FACE_CLASS_TABLE if r.name is not None)
FACE_PALETTE = tuple(r.color for r in FACE_CLASS_TABLE if r.name is not None)


def _to_shared(native: Tuple[str, ...], column: str) -> Dict[int, int]:
    """native label id -> shared train id (255 = ignore), from the table;
    checks that every native class appears exactly once."""
    out: Dict[int, int] = {}
    for row in FACE_CLASS_TABLE:
        tid = IGNORE_INDEX if row.name is None else FACE_CLASSES.index(
            row.name)
        for name in getattr(row, column):
            lid = native.index(name)  # ValueError on a typo
            if lid in out:
                raise AssertionError(f'{column} class {name} listed twice')
            out[lid] = tid
    missing = set(range(len(native))) - set(out)
    if missing:
        raise AssertionError(f'{column} classes not in the table: '
                             f'{[native[i] for i in sorted(missing)]}')
    return out


#: FaceSynthetics label id -> shared train id (255 = ignore).
FACESYNTHETICS_TO_FACE = _to_shared(FACESYNTHETICS_CLASSES, 'facesynthetics')
#: CelebAMask-HQ label id -> shared train id (255 = ignore).
CELEBAMASK_HQ_TO_FACE = _to_shared(CELEBAMASK_HQ_CLASSES, 'celebamask_hq')


def _lut(mapping: Dict[int, int]) -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for k, v in mapping.items():
        lut[k] = v
    lut.flags.writeable = False
    return lut


#: 256-entry uint8 look-up tables (every id not in a table -> 255).
FACESYNTHETICS_LUT = _lut(FACESYNTHETICS_TO_FACE)
CELEBAMASK_HQ_LUT = _lut(CELEBAMASK_HQ_TO_FACE)


def _apply(lut: np.ndarray, label: np.ndarray) -> np.ndarray:
    if label.dtype != np.uint8:
        raise ValueError(f'label ids must be uint8, got {label.dtype}')
    return lut[label]


def facesynthetics_to_face(label: np.ndarray) -> np.ndarray:
    """Map a uint8 FaceSynthetics label map to the shared face classes."""
    return _apply(FACESYNTHETICS_LUT, label)


def celebamask_hq_to_face(label: np.ndarray) -> np.ndarray:
    """Map a uint8 CelebAMask-HQ label map to the shared face classes."""
    return _apply(CELEBAMASK_HQ_LUT, label)


__all__ = [
    'CELEBAMASK_HQ_CLASSES', 'CELEBAMASK_HQ_LUT', 'CELEBAMASK_HQ_TO_FACE',
    'FACESYNTHETICS_CLASSES', 'FACESYNTHETICS_LUT', 'FACESYNTHETICS_TO_FACE',
    'FACE_CLASSES', 'FACE_CLASS_TABLE', 'FACE_PALETTE', 'FaceClass',
    'celebamask_hq_to_face', 'facesynthetics_to_face'
]
