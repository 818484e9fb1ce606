"""Pictures: image grids with captions and DA-KPN parameter maps (paper
figure 6: colour weight/bias of the value channel and a blur sigma)."""
from __future__ import annotations

from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from .functional import PARAM_NAMES

#: Channels shown by default: value weight, value bias, blue sigma (paper
#: figure 6 uses channels 2, 5 and 8) and the red noise scale.
DEFAULT_PARAM_CHANNELS = (2, 5, 8, 9)
#: The same for the YCbCr colour space: luma weight and bias.
_SHOWN = {'hsv': DEFAULT_PARAM_CHANNELS, 'ycbcr': (0, 3, 8, 9)}


def param_pictures(params: Tensor, color_space: str,
                   size: Optional[Sequence[int]] = None) -> List[np.ndarray]:
    """The default parameter maps of a translator of ``color_space``
    (brightness weight and bias, a blur sigma, a noise scale), named."""
    from .functional import param_names
    return param_map_images(params, _SHOWN[color_space], size=size,
                            names=param_names(color_space))
CAPTION_HEIGHT = 18


def to_uint8_rgb(img) -> np.ndarray:
    """(3, H, W) / (1, 3, H, W) tensor in [0, 1] or HxWx3 array -> uint8."""
    if isinstance(img, Tensor):
        img = img.detach().float().cpu()
        if img.dim() == 4:
            img = img[0]
        img = img.permute(1, 2, 0).numpy()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return img


def caption(img: np.ndarray, text: str) -> np.ndarray:
    """Add a caption bar above an RGB uint8 image."""
    w = img.shape[1]
    bar = np.full((CAPTION_HEIGHT, w, 3), 255, np.uint8)
    cv2.putText(bar, text, (4, CAPTION_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX,
                0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def grid(rows: Sequence[Sequence[np.ndarray]],
         titles: Optional[Sequence[str]] = None,
         pad: int = 4) -> np.ndarray:
    """Tile RGB uint8 images (each row may hold different sizes: cells are
    resized to the first image's height in that row)."""
    out_rows = []
    for r, row in enumerate(rows):
        h = row[0].shape[0]
        cells = []
        for c, im in enumerate(row):
            if im.shape[0] != h:
                w = int(round(im.shape[1] * h / im.shape[0]))
                im = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
            if titles is not None and r == 0:
                im = caption(im, titles[c])
            elif titles is not None:
                im = caption(im, '')
            cells.append(im)
            cells.append(np.full((cells[-1].shape[0], pad, 3), 255, np.uint8))
        out_rows.append(np.concatenate(cells[:-1], axis=1))
    width = max(r.shape[1] for r in out_rows)
    padded = []
    for r in out_rows:
        extra = np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)
        padded.append(np.concatenate([r, extra], axis=1))
        padded.append(np.full((pad, width, 3), 255, np.uint8))
    return np.concatenate(padded[:-1], axis=0)


def param_map_images(params: Tensor,
                     channels: Sequence[int] = DEFAULT_PARAM_CHANNELS,
                     size: Optional[Sequence[int]] = None,
                     names: Sequence[str] = PARAM_NAMES
                     ) -> List[np.ndarray]:
    """Colour-mapped pictures of parameter channels of one (1, 12, h, w) or
    (12, h, w) map, each captioned with its name (``names``: the channel
    names of the translator's colour space, ``functional.param_names``)
    and value range."""
    p = params.detach().float().cpu()
    if p.dim() == 4:
        p = p[0]
    out = []
    for ch in channels:
        m = p[ch].numpy()
        lo, hi = float(m.min()), float(m.max())
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        col = cv2.applyColorMap(np.uint8(norm * 255), cv2.COLORMAP_VIRIDIS)
        col = cv2.cvtColor(col, cv2.COLOR_BGR2RGB)
        if size is not None:
            col = cv2.resize(col, (int(size[1]), int(size[0])),
                             interpolation=cv2.INTER_NEAREST)
        out.append(caption(col, f'{ch}:{names[ch]} {lo:.2f}..{hi:.2f}'))
    return out


def write_png(path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image (cv2 wants BGR)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')


def read_rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f'could not read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@torch.no_grad()
def labels_to_color(label: np.ndarray, palette) -> np.ndarray:
    """Colour a train-id map (255 = ignore, black)."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut[label]
