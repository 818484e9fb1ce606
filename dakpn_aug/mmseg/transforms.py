"""``DAKPNTranslate``: DA-KPN as an mmseg data-pipeline transform."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ..errors import DAKPNInputError
from ..image import mmseg_image_to_tensor, tensor_to_mmseg_image
from ..noise import seeded_generator
from ..runtime import get_translator


class DAKPNTranslate(BaseTransform):
    """Translate the image with a trained DA-KPN bundle; nothing else moves.

    Put it after ``LoadImageFromFile`` / ``LoadAnnotations`` in an mmseg
    pipeline (the config needs only ``custom_imports=dict(imports=
    ['dakpn_aug'])``)::

        dict(type='DAKPNTranslate', checkpoint='dakpn_bundle.pth', prob=1.0)

    The bundle is loaded lazily, once per process (each dataloader worker
    loads its own copy on first use). Use ``device='cpu'`` with
    ``num_workers > 0`` (forked workers cannot use CUDA); translate on the
    GPU with ``DAKPNSegDataPreProcessor`` instead.

    Required Keys:
        - img (np.ndarray): HxWx3 BGR (mmseg's convention), uint8 or float32
          in [0, 255].

    Optional Keys:
        - gt_seg_map (np.ndarray): HxW train ids (after ``LoadAnnotations``
          and the dataset's label mapping): used, never changed, for label
          guidance (``DAKPNTranslator``: classes the encoder cannot see at
          its low resolution take the image's mean colour change).

    Modified Keys:
        - img: translated, same shape, dtype and channel order.

    Every other key (``gt_seg_map``, ``img_shape``, ...) is untouched.

    Args:
        checkpoint: path of the translator bundle.
        prob: probability of translating an image.
        device: where the translator runs (``'cpu'`` in workers).
        noise: override the bundle's noise policy (``'fixed'``, ``'fresh'``,
            ``'none'``); None keeps it.
        seed: seeds this process's noise generator (``'fresh'`` noise): same
            seed, same sequence of outputs.
        encoder_dtype: ``'bfloat16'``/``'float16'`` run the encoder under
            autocast (see ``DAKPNTranslator``); None: float32.
        label_guidance: pass ``gt_seg_map`` (when present) to the
            translation; False: translate from the image alone.
    """

    def __init__(self,
                 checkpoint: str,
                 prob: float = 1.0,
                 device: str = 'cpu',
                 noise: Optional[str] = None,
                 seed: Optional[int] = None,
                 encoder_dtype: Optional[str] = None,
                 label_guidance: bool = True):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.checkpoint = checkpoint
        self.prob = prob
        self.device = device
        self.noise = noise
        self.seed = seed
        self.encoder_dtype = encoder_dtype
        self.label_guidance = bool(label_guidance)
        self._generator: Optional[torch.Generator] = None

    def _gen(self) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        if self._generator is None:
            self._generator = seeded_generator(self.seed)
        return self._generator

    def transform(self, results: dict) -> dict:
        where = (f'DAKPNTranslate, results["img"] of '
                 f'{results.get("img_path", "unknown file")}')
        img = results.get('img')
        x, dtype = mmseg_image_to_tensor(img, where)  # checks first
        if self.prob < 1.0 and np.random.rand() >= self.prob:
            return results
        translator = get_translator(self.checkpoint, self.device, self.noise,
                                    self.encoder_dtype)
        labels = results.get('gt_seg_map') if self.label_guidance else None
        if labels is not None:  # (1, H, W); read as they are, no copy
            labels = np.asarray(labels)[None]
        out = translator.translate_batch(x.to(translator.device),
                                         generator=self._gen(),
                                         labels=labels)
        results['img'] = tensor_to_mmseg_image(out, dtype)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(checkpoint={self.checkpoint!r}, '
                f'prob={self.prob}, device={self.device!r}, '
                f'noise={self.noise!r}, seed={self.seed!r}, '
                f'label_guidance={self.label_guidance})')


def clip_to_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """A float image back into [0, 255] and the input's dtype (rounded for
    uint8): the ending of the image-only augmentations below."""
    x = np.clip(x, 0, 255)
    return np.rint(x).astype(dtype) if dtype == np.uint8 else x.astype(dtype)


class RandomBlurNoise(BaseTransform):
    """Random Gaussian blur and additive Gaussian noise (image only).

    A robustness augmentation for the semantic encoder: an encoder trained
    on clean synthetic renderings labels soft, noisy real photographs badly
    (on the demo data it called nearly every real pixel "road"), and
    DA-KPN's class-conditional statistics read the real images' classes
    from it. Combined with mmseg's ``PhotoMetricDistortion`` it covers the
    ways cameras differ from renderers. The blur is centred and nothing
    else changes, so labels stay valid.

    Required Keys: img (HxWxC uint8 or float32 in [0, 255]).
    Modified Keys: img (same shape and dtype).

    Args:
        blur_prob: probability of blurring.
        sigma: range of the blur's standard deviation, in pixels of the
            image as it is at this point of the pipeline.
        noise_prob: probability of adding noise.
        noise_std: range of the noise's standard deviation, on the [0, 1]
            intensity scale.
    """

    def __init__(self, blur_prob: float = 0.5, sigma=(0.5, 2.5),
                 noise_prob: float = 0.5, noise_std=(0.0, 0.06)):
        super().__init__()
        for name, p in (('blur_prob', blur_prob), ('noise_prob', noise_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        if not 0 <= sigma[0] <= sigma[1] or not \
                0 <= noise_std[0] <= noise_std[1]:
            raise ValueError('sigma and noise_std must be (low, high) ranges '
                             '>= 0')
        self.blur_prob, self.sigma = float(blur_prob), tuple(sigma)
        self.noise_prob, self.noise_std = float(noise_prob), tuple(noise_std)

    def transform(self, results: dict) -> dict:
        import cv2
        img = results['img']
        dtype = img.dtype
        x = img.astype(np.float32)
        if np.random.rand() < self.blur_prob:
            s = np.random.uniform(*self.sigma)
            if s > 0:
                x = cv2.GaussianBlur(x, (0, 0), s,
                                     borderType=cv2.BORDER_REFLECT_101)
        if np.random.rand() < self.noise_prob:
            std = np.random.uniform(*self.noise_std) * 255
            x = x + np.random.normal(0, std, x.shape).astype(np.float32)
        results['img'] = clip_to_dtype(x, dtype)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(blur_prob={self.blur_prob}, sigma='
                f'{self.sigma}, noise_prob={self.noise_prob}, noise_std='
                f'{self.noise_std})')


class RandomColorCast(BaseTransform):
    """Random white-balance cast: the red and the blue channel scaled by
    independent gains (green fixed), as a camera's white balance moves them
    (image only; nothing moves, labels stay valid).

    A robustness augmentation for the semantic encoder, beside
    ``RandomBlurNoise`` and mmseg's ``PhotoMetricDistortion``: a hue
    rotation turns coloured pixels but leaves grey ones grey, while a
    camera's cast tints the greys too (a grey sky turns orange under a warm
    white balance). Measured on the demo zoo's warm camera, an encoder
    trained without it called 86% of the real sky "building", and DA-KPN's
    per-class statistics, read through it, gave the translated sky the
    buildings' brightness.

    Required Keys: img (HxWx3 BGR, uint8 or float32 in [0, 255]).
    Modified Keys: img (same shape and dtype).

    Args:
        prob: probability of a cast.
        gain: (low, high) range of the red and of the blue gain, each
            drawn uniformly and independently.
    """

    def __init__(self, prob: float = 0.5, gain=(0.7, 1.3)):
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if not 0 < gain[0] <= gain[1]:
            raise ValueError(f'gain must be a (low, high) range > 0, got '
                             f'{gain}')
        self.prob, self.gain = float(prob), tuple(float(g) for g in gain)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        red, blue = np.random.uniform(*self.gain, size=2)
        # BGR, mmseg's channel order
        gains = np.array([blue, 1.0, red], np.float32)
        results['img'] = clip_to_dtype(img.astype(np.float32) * gains,
                                       img.dtype)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, gain={self.gain})'


class PeerTranslate(BaseTransform):
    """A training-free albumentations peer (``dakpn_aug.peers``: ``'fda'``,
    ``'histogram-matching'``, ``'pixel-distribution'``) as an mmseg
    pipeline transform, so that the downstream benchmark trains the same
    segmenter on peer-adapted images as on DA-KPN-translated ones::

        dict(type='PeerTranslate', peer='fda',
             reference_root='data/cityscapes', reference_split='train')

    Reference images: the real images under ``reference_root`` (any layout
    ``data.layouts.list_images`` knows), up to ``max_references`` of them
    spread over the sorted list, loaded once per process. Labels and
    geometry are untouched.

    Required Keys: img (HxWx3 BGR uint8). Modified Keys: img.
    """

    def __init__(self, peer: str, reference_root: str,
                 reference_split: Optional[str] = 'train',
                 max_references: int = 64, seed: int = 0):
        super().__init__()
        from ..peers import PEERS
        if peer not in PEERS:
            raise ValueError(f'unknown peer {peer!r}; peers: {PEERS}')
        if max_references < 1:
            raise ValueError('max_references must be >= 1')
        self.peer, self.reference_root = peer, reference_root
        self.reference_split = reference_split
        self.max_references, self.seed = int(max_references), int(seed)
        self._fn = None

    def _peer(self):
        if self._fn is None:
            from ..data.layouts import list_images
            from ..data.readers import read_rgb
            from ..peers import make_peer
            files = list_images(self.reference_root, 'auto',
                                self.reference_split)
            step = max(1, len(files) // self.max_references)
            refs = [read_rgb(p) for p in files[::step][:self.max_references]]
            self._fn = make_peer(self.peer, refs, seed=self.seed)
        return self._fn

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or \
                img.ndim != 3 or img.shape[2] != 3:
            raise DAKPNInputError(
                f'PeerTranslate needs an HxWx3 uint8 BGR image, got '
                f'{getattr(img, "dtype", type(img))} '
                f'{getattr(img, "shape", "")} '
                f'({results.get("img_path", "unknown file")})')
        rgb = np.ascontiguousarray(img[..., ::-1])
        results['img'] = np.ascontiguousarray(self._peer()(rgb)[..., ::-1])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(peer={self.peer!r}, reference_root='
                f'{self.reference_root!r}, seed={self.seed})')
