"""Checking and converting images at the front doors: one rule.

Accepted: HxWx3 RGB arrays of dtype uint8 (scaled by 255), uint16 (scaled
by 65535) or float32/float64 with values in [0, 1] (a float image is never
rescaled or clipped: 0..255 floats are refused, not guessed). The result
has the input's shape and dtype. Anything else (greyscale, RGBA, other
dtypes, empty, NaN, floats outside [0, 1]) raises one
:class:`~dakpn_aug.errors.DAKPNInputError` that says what to do. Tensors
(B, 3, H, W) follow the float rule (:func:`check_unit_range`).

The one exception is the mmseg pipeline, whose own convention is BGR with
floats on the 0..255 scale: :func:`mmseg_image_to_tensor` and
:func:`tensor_to_mmseg_image` convert it, here too.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
from torch import Tensor

from .errors import DAKPNInputError

_SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0,
           np.dtype(np.float32): 1.0, np.dtype(np.float64): 1.0}


def check_image(image, name: str = 'image') -> np.ndarray:
    """Validate an HxWx3 RGB numpy image; return it as an ndarray."""
    if isinstance(image, Tensor):
        raise DAKPNInputError(
            f'{name}: expected an HxWx3 numpy array, got a torch tensor; '
            'use translate_batch() for (B, 3, H, W) tensors')
    if not isinstance(image, np.ndarray):
        raise DAKPNInputError(f'{name}: expected an HxWx3 numpy array, got '
                              f'{type(image).__name__}')
    if image.size == 0:
        raise DAKPNInputError(f'{name} is empty (shape {image.shape})')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise DAKPNInputError(
            f'{name} is greyscale (shape {image.shape}); DA-KPN translates '
            'RGB: convert with cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)')
    if image.ndim == 3 and image.shape[2] == 4:
        raise DAKPNInputError(
            f'{name} has 4 channels (RGBA?, shape {image.shape}); drop or '
            'composite the alpha channel first, e.g. img[..., :3]')
    if image.ndim != 3 or image.shape[2] != 3:
        raise DAKPNInputError(f'{name} must be HxWx3 RGB, got shape '
                              f'{image.shape}')
    if image.dtype not in _SCALES:
        raise DAKPNInputError(
            f'{name} has dtype {image.dtype}; supported: uint8, uint16, '
            'float32/float64 in [0, 1]')
    if image.dtype.kind == 'f':
        if not np.isfinite(image).all():
            raise DAKPNInputError(f'{name} contains NaN or infinite values')
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise DAKPNInputError(
                f'float {name} must have values in [0, 1], got [{lo:.3g}, '
                f'{hi:.3g}]; divide 0..255 images by 255')
    return image


def image_to_tensor(image) -> Tuple[Tensor, np.dtype]:
    """HxWx3 numpy image -> ((1, 3, H, W) float32 in [0, 1], original dtype)."""
    image = check_image(image)
    scale = _SCALES[image.dtype]
    arr = np.ascontiguousarray(image).astype(np.float32) / np.float32(scale)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0), image.dtype


def tensor_to_image(tensor: Tensor, dtype) -> np.ndarray:
    """(1, 3, H, W) tensor in [0, 1] -> HxWx3 array of ``dtype``."""
    arr = tensor[0].detach().permute(1, 2, 0).float().cpu().numpy()
    dtype = np.dtype(dtype)
    scale = _SCALES[dtype]
    if dtype.kind == 'f':
        return arr.astype(dtype)
    return np.clip(np.rint(arr * scale), 0, scale).astype(dtype)


def batch_to_tensor(batch) -> Tuple[Tensor, np.dtype]:
    """NxHxWx3 numpy batch (one dtype, the single-image rule of
    :func:`check_image`) -> ((N, 3, H, W) float32 in [0, 1], dtype)."""
    if isinstance(batch, np.ndarray) and batch.ndim == 3 and len(batch):
        check_image(batch[0], 'image 0 of the batch')  # greyscale images
    if not isinstance(batch, np.ndarray) or batch.ndim != 4:
        raise DAKPNInputError('expected an NxHxWx3 batch of RGB images, got '
                              f'{getattr(batch, "shape", type(batch))}')
    for i in range(batch.shape[0]):
        check_image(batch[i], f'image {i} of the batch')
    scale = _SCALES[batch.dtype]
    arr = np.ascontiguousarray(batch).astype(np.float32) / np.float32(scale)
    return torch.from_numpy(arr).permute(0, 3, 1, 2), batch.dtype


def tensor_to_batch(tensor: Tensor, dtype) -> np.ndarray:
    """(N, 3, H, W) tensor in [0, 1] -> NxHxWx3 array of ``dtype``."""
    arr = tensor.detach().permute(0, 2, 3, 1).float().cpu().numpy()
    dtype = np.dtype(dtype)
    if dtype.kind == 'f':
        return arr.astype(dtype)
    scale = _SCALES[dtype]
    return np.clip(np.rint(arr * scale), 0, scale).astype(dtype)


def check_unit_range(tensor: Tensor, name: str = 'images') -> None:
    """A float tensor must be finite with values in [0, 1] (the float rule
    of every door; a 0..255 float image is the common mistake)."""
    if tensor.numel() == 0:
        return
    lo, hi = torch.aminmax(tensor.detach())
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DAKPNInputError(f'{name} contain NaN or infinite values')
    if lo < 0.0 or hi > 1.0:
        raise DAKPNInputError(
            f'float {name} must have values in [0, 1], got [{lo:.3g}, '
            f'{hi:.3g}]; divide 0..255 images by 255')


def mmseg_image_to_tensor(img: np.ndarray, where: str = 'image'
                          ) -> Tuple[Tensor, np.dtype]:
    """An mmseg pipeline image (HxWx3 **BGR**, uint8 or float32 on mmseg's
    0..255 scale) -> ((1, 3, H, W) RGB float32 in [0, 1], its dtype).
    Floats outside [0, 255] (or NaN) are a bug upstream: refused, never
    clipped. ``where`` names the image in errors."""
    if not isinstance(img, np.ndarray) or img.ndim != 3 or \
            img.shape[2] != 3:
        raise DAKPNInputError(
            f'expected an HxWx3 BGR image, got {type(img).__name__} '
            f'{getattr(img, "shape", None)} ({where})')
    if img.dtype == np.uint8:
        x = img[..., ::-1].astype(np.float32) / 255.0
    elif img.dtype == np.float32:
        x = img[..., ::-1] / np.float32(255.0)
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DAKPNInputError(
                'a float32 image must hold finite values in [0, 255] '
                f"(mmseg's convention), got [{img.min():.3g}, "
                f'{img.max():.3g}] ({where})')
    else:
        raise DAKPNInputError(f'uint8 or float32 images only, got '
                              f'{img.dtype} ({where})')
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    return t, img.dtype


def tensor_to_mmseg_image(tensor: Tensor, dtype) -> np.ndarray:
    """(1, 3, H, W) RGB in [0, 1] -> HxWx3 BGR of ``dtype`` on the 0..255
    scale (uint8 rounded, float32 not)."""
    rgb = tensor[0].detach().permute(1, 2, 0).float().cpu().numpy()
    bgr = np.ascontiguousarray(rgb[..., ::-1]) * 255.0
    if np.dtype(dtype) == np.uint8:
        return np.clip(np.rint(bgr), 0, 255).astype(np.uint8)
    return bgr.astype(np.float32)

