"""The official Cityscapes label definitions, in one table.

Transcribed from cityscapesScripts ``helpers/labels.py`` (the dataset's
reference; not a dependency because it drags in unrelated packages). GTA5
labels use the same label ids. Everything that maps label ids to the 19 train
ids uses :data:`ID_TO_TRAINID` or :func:`label_ids_to_train_ids`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

IGNORE_INDEX = 255


class Label(NamedTuple):
    name: str
    id: int
    train_id: int
    category: str
    color: tuple


CITYSCAPES_LABELS = (
    Label('unlabeled', 0, 255, 'void', (0, 0, 0)),
    Label('ego vehicle', 1, 255, 'void', (0, 0, 0)),
    Label('rectification border', 2, 255, 'void', (0, 0, 0)),
    Label('out of roi', 3, 255, 'void', (0, 0, 0)),
    Label('static', 4, 255, 'void', (0, 0, 0)),
    Label('dynamic', 5, 255, 'void', (111, 74, 0)),
    Label('ground', 6, 255, 'void', (81, 0, 81)),
    Label('road', 7, 0, 'flat', (128, 64, 128)),
    Label('sidewalk', 8, 1, 'flat', (244, 35, 232)),
    Label('parking', 9, 255, 'flat', (250, 170, 160)),
    Label('rail track', 10, 255, 'flat', (230, 150, 140)),
    Label('building', 11, 2, 'construction', (70, 70, 70)),
    Label('wall', 12, 3, 'construction', (102, 102, 156)),
    Label('fence', 13, 4, 'construction', (190, 153, 153)),
    Label('guard rail', 14, 255, 'construction', (180, 165, 180)),
    Label('bridge', 15, 255, 'construction', (150, 100, 100)),
    Label('tunnel', 16, 255, 'construction', (150, 120, 90)),
    Label('pole', 17, 5, 'object', (153, 153, 153)),
    Label('polegroup', 18, 255, 'object', (153, 153, 153)),
    Label('traffic light', 19, 6, 'object', (250, 170, 30)),
    Label('traffic sign', 20, 7, 'object', (220, 220, 0)),
    Label('vegetation', 21, 8, 'nature', (107, 142, 35)),
    Label('terrain', 22, 9, 'nature', (152, 251, 152)),
    Label('sky', 23, 10, 'sky', (70, 130, 180)),
    Label('person', 24, 11, 'human', (220, 20, 60)),
    Label('rider', 25, 12, 'human', (255, 0, 0)),
    Label('car', 26, 13, 'vehicle', (0, 0, 142)),
    Label('truck', 27, 14, 'vehicle', (0, 0, 70)),
    Label('bus', 28, 15, 'vehicle', (0, 60, 100)),
    Label('caravan', 29, 255, 'vehicle', (0, 0, 90)),
    Label('trailer', 30, 255, 'vehicle', (0, 0, 110)),
    Label('train', 31, 16, 'vehicle', (0, 80, 100)),
    Label('motorcycle', 32, 17, 'vehicle', (0, 0, 230)),
    Label('bicycle', 33, 18, 'vehicle', (119, 11, 32)),
    Label('license plate', -1, 255, 'vehicle', (0, 0, 142)),
)

#: label id -> train id (255 = ignore) for ids 0..33.
ID_TO_TRAINID = {lb.id: lb.train_id for lb in CITYSCAPES_LABELS if lb.id >= 0}
#: The 19 evaluation classes, in train-id order.
TRAIN_CLASSES = tuple(lb.name for lb in sorted(
    (lb for lb in CITYSCAPES_LABELS if lb.train_id != IGNORE_INDEX),
    key=lambda lb: lb.train_id))
TRAIN_PALETTE = tuple(lb.color for lb in sorted(
    (lb for lb in CITYSCAPES_LABELS if lb.train_id != IGNORE_INDEX),
    key=lambda lb: lb.train_id))
#: Label id of each class name.
NAME_TO_ID = {lb.name: lb.id for lb in CITYSCAPES_LABELS if lb.id >= 0}

_LUT = np.full(256, IGNORE_INDEX, dtype=np.uint8)
for _id, _tid in ID_TO_TRAINID.items():
    _LUT[_id] = _tid


def label_ids_to_train_ids(label: np.ndarray) -> np.ndarray:
    """Map a uint8 map of Cityscapes/GTA5 label ids to train ids (255 =
    ignore; ids outside the table are ignored too)."""
    if label.dtype != np.uint8:
        raise ValueError(f'label ids must be uint8, got {label.dtype}')
    return _LUT[label]
