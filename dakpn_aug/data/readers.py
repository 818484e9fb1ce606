"""Reading the image and label files of a data set (one clear error per
unreadable file)."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np

from ..errors import DAKPNInputError


def read_rgb(path: Union[str, Path]) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (clear error if unreadable)."""
    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        if not path.exists():
            raise DAKPNInputError(f'image does not exist: {path}')
        raise DAKPNInputError(f'cannot read image (corrupt or not an image): '
                              f'{path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_label(path: Union[str, Path]) -> np.ndarray:
    """Read a single-channel uint8 label map (clear error if unreadable)."""
    path = Path(path)
    lbl = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if lbl is None:
        raise DAKPNInputError(f'cannot read label map: {path}')
    if lbl.ndim != 2 or lbl.dtype != np.uint8:
        raise DAKPNInputError(f'label map must be single-channel uint8, got '
                              f'{lbl.dtype} {lbl.shape}: {path}')
    return lbl
