"""Simple image statistics that describe a syn2real gap, and how much of it
a translation closes (used by the demo and ``tools/domain_gap.py``)."""
from __future__ import annotations

from typing import Dict, Iterable, Sequence

import cv2
import numpy as np

STATS = ('saturation', 'brightness', 'noise_level', 'edge_strength')


def image_stats(rgb: np.ndarray) -> Dict[str, float]:
    """Statistics of one HxWx3 uint8 RGB image.

    - saturation, brightness: mean HSV S and V in [0, 1];
    - noise_level: robust std (1.4826 * MAD) of the image minus its 3x3
      median, grey levels in [0, 1] (flat areas dominate, so edges barely
      count);
    - edge_strength: mean Sobel gradient magnitude of the grey image.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError('expected an HxWx3 uint8 RGB image')
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32) / 255
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    resid = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(
        np.float32)
    mad = np.median(np.abs(resid - np.median(resid)))
    g = grey.astype(np.float32) / 255
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return dict(saturation=float(hsv[..., 1].mean()),
                brightness=float(hsv[..., 2].mean()),
                noise_level=float(1.4826 * mad / 255),
                edge_strength=float(np.sqrt(gx * gx + gy * gy).mean()))


def dataset_stats(images: Iterable[np.ndarray]) -> Dict[str, float]:
    """Mean of :func:`image_stats` over images."""
    rows = [image_stats(im) for im in images]
    if not rows:
        raise ValueError('no images')
    return {k: float(np.mean([r[k] for r in rows])) for k in STATS}


def gap_closed(source: Dict[str, float], translated: Dict[str, float],
               real: Dict[str, float],
               stats: Sequence[str] = STATS) -> Dict[str, float]:
    """Per statistic, the share of the source->real gap the translation
    closes: ``1 - |translated - real| / |source - real|`` (1 = closed,
    0 = unchanged, negative = further away). Also ``'mean'``."""
    out = {}
    for k in stats:
        gap = abs(source[k] - real[k])
        out[k] = float('nan') if gap < 1e-12 else 1.0 - abs(
            translated[k] - real[k]) / gap
    vals = [v for v in out.values() if np.isfinite(v)]
    out['mean'] = float(np.mean(vals)) if vals else float('nan')
    return out
