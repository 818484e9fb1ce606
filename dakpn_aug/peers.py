"""The training-free peers DA-KPN is judged against.

albumentations ships three label-preserving domain adaptation transforms
fed with real reference images; a user who wants synthetic images to look
real would try them first, so every quality and downstream table carries
them as rows:

- ``'fda'``: Fourier Domain Adaptation (Yang and Soatto 2020): swap the
  low-frequency amplitude spectrum for a reference's (``beta`` 0.01-0.1);
- ``'histogram-matching'``: per-channel histogram matching to a reference,
  blended with the input (albumentations' default blend 0.5-1.0);
- ``'pixel-distribution'``: PCA-based pixel distribution adaptation to a
  reference, fully applied (``blend_ratio=(1, 1)``) on float32 in [0, 1].
  albumentations 2.0.8 breaks it otherwise: for uint8 input it returns the
  adapted pixels on a [0, 1] scale cast back to uint8 (near black), and
  any blend below 1 mixes the input on a 0-255 scale with the adapted
  image on a 0-1 scale (near white). Measured in this module's tests.

Each is applied with probability 1, with a reference image drawn at random
from the real set per call (seeded: the same seed gives the same images).
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np

__all__ = ['PEERS', 'make_peer']

#: Stable names (also the row names of the benchmarks).
PEERS = ('fda', 'histogram-matching', 'pixel-distribution')


def make_peer(name: str, reference_images: Sequence[np.ndarray],
              seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A function HxWx3 uint8 RGB -> HxWx3 uint8 RGB for peer ``name``.

    Args:
        name: one of :data:`PEERS`.
        reference_images: real HxWx3 uint8 RGB images.
        seed: seeds the reference draws and the transforms' own randomness.
    """
    import albumentations as A
    if name not in PEERS:
        raise ValueError(f'unknown peer {name!r}; peers: {PEERS}')
    refs = [np.asarray(r) for r in reference_images]
    if not refs:
        raise ValueError('the peers need at least one real reference image')
    for r in refs:
        if r.dtype != np.uint8 or r.ndim != 3 or r.shape[2] != 3:
            raise ValueError('reference images must be HxWx3 uint8 RGB')
    as_float = name == 'pixel-distribution'
    if as_float:
        refs = [r.astype(np.float32) / 255 for r in refs]
    # albumentations 2.x takes the reference through a metadata key per
    # call; the reference is drawn here, from the seeded generator.
    build: Dict[str, Callable] = {
        'fda': lambda: A.FDA(beta_limit=(0.01, 0.1), metadata_key='ref',
                             p=1.0),
        'histogram-matching': lambda: A.HistogramMatching(metadata_key='ref',
                                                          p=1.0),
        'pixel-distribution': lambda: A.PixelDistributionAdaptation(
            blend_ratio=(1.0, 1.0), metadata_key='ref', p=1.0),
    }
    compose = A.Compose([build[name]()], seed=int(seed))
    rng = np.random.default_rng(int(seed))

    def apply(img: np.ndarray) -> np.ndarray:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('expected an HxWx3 uint8 RGB image')
        x = img.astype(np.float32) / 255 if as_float else img
        ref = refs[int(rng.integers(len(refs)))]
        out = compose(image=x, ref=[ref])['image']
        if as_float:
            out = np.clip(np.rint(out * 255), 0, 255)
        return np.asarray(out).astype(np.uint8)

    return apply
