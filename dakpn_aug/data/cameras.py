"""Camera models of the demo data's "real" domains (a zoo of cameras).

A translator tuned on one camera can fail on the next, so the demo data can
be rendered through several camera models that differ the way real cameras
do: colour cast (warm, cold), exposure, desaturation (mild to strong),
optical blur (mild to strong, sometimes class dependent), sensor noise (low
to high) and vignetting, plus class-dependent looks that a global transform
cannot produce (a hazy sky, green-dominant foliage). Every step is per
pixel or a centred blur, so labels stay aligned.

Each model is a dict of ranges; every image draws its own parameters
uniformly from them (recorded in ``demo_data.json``). Steps, in order, in
[0, 1] RGB:

1. white balance and exposure: ``x * gain_c * exposure``;
2. desaturation: HSV saturation times ``saturation_scale``;
3. class looks (optional, per class name): ``gain`` per channel, ``haze``
   (blend towards ``haze_rgb`` by the drawn amount), ``extra_sigma_px``
   (that class's pixels take a more blurred copy);
4. optical blur: Gaussian ``sigma_px``; with ``motion_prob`` also a centred
   horizontal box of ``motion_length_px``;
5. sensor noise: ``x + noise_std * sqrt(0.5 + x) * N(0, 1)`` per channel
   (Gaussian approximation of shot + read noise);
6. vignetting: ``x * (1 - strength * r^2)``, r = 1 in the corners;
7. quantisation to uint8.
"""
from __future__ import annotations

import copy
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .cityscapes_labels import NAME_TO_ID

__all__ = ['CAMERA_ZOO', 'CAMERA_MODEL', 'camera_model', 'apply_camera']

_ORDER = ['white_balance_exposure', 'desaturation', 'class_looks',
          'optical_blur', 'sensor_noise', 'vignetting', 'quantisation']


def _camera(gain_r, gain_b, exposure, saturation, sigma, noise,
            vignetting, motion_prob=0.0, gain_g=(1.0, 1.0),
            class_looks=None, description='') -> dict:
    return {
        'description': description,
        'order': list(_ORDER),
        'white_balance_exposure': {
            'formula': 'x_c * gain_c * exposure', 'gain_r': list(gain_r),
            'gain_g': list(gain_g), 'gain_b': list(gain_b),
            'exposure': list(exposure)},
        'desaturation': {'formula': 'HSV S * saturation_scale',
                         'saturation_scale': list(saturation)},
        'class_looks': class_looks or {},
        'optical_blur': {
            'formula': 'Gaussian blur, then (with probability motion_prob) '
                       'a centred horizontal box of motion_length_px',
            'sigma_px': list(sigma), 'motion_prob': motion_prob,
            'motion_length_px': 3},
        'sensor_noise': {
            'formula': 'x + noise_std * sqrt(0.5 + x) * N(0, 1), per '
                       'channel (noise_std is the std at mid grey)',
            'noise_std': list(noise)},
        'vignetting': {'formula': 'x * (1 - strength * r^2), r = 1 in the '
                                  'corners',
                       'strength': list(vignetting)},
        'quantisation': {'formula': 'round(clip(x, 0, 1) * 255) as uint8'},
    }


#: The cameras, by name. ``'demo'`` is the camera the project was developed
#: on (``make demo``); the others are held out: no recipe setting may be
#: tuned on them.
CAMERA_ZOO: Dict[str, dict] = {
    'demo': _camera(
        gain_r=(0.90, 1.10), gain_b=(0.88, 1.08), exposure=(0.78, 0.98),
        saturation=(0.55, 0.75), sigma=(1.0, 1.8), noise=(0.02, 0.04),
        vignetting=(0.10, 0.25), motion_prob=0.3,
        description='moderate: slight random casts, desaturated, blurred, '
                    'noisy'),
    'mild': _camera(
        gain_r=(0.97, 1.03), gain_b=(0.97, 1.03), exposure=(0.92, 1.00),
        saturation=(0.80, 0.92), sigma=(0.4, 0.8), noise=(0.004, 0.010),
        vignetting=(0.0, 0.08),
        description='a good camera: mild desaturation, slight blur, low '
                    'noise'),
    'warm': _camera(
        gain_r=(1.10, 1.20), gain_b=(0.72, 0.82), exposure=(0.85, 1.00),
        saturation=(0.65, 0.80), sigma=(0.8, 1.2), noise=(0.015, 0.025),
        vignetting=(0.10, 0.20), motion_prob=0.1,
        description='warm cast (red up, blue down), moderate blur'),
    'cold': _camera(
        gain_r=(0.80, 0.88), gain_b=(1.08, 1.18), exposure=(0.75, 0.90),
        saturation=(0.35, 0.50), sigma=(1.8, 2.6), noise=(0.008, 0.015),
        vignetting=(0.15, 0.30), motion_prob=0.3,
        description='cold cast, strong desaturation, strong blur'),
    'hazy': _camera(
        gain_r=(0.97, 1.03), gain_b=(0.97, 1.05), exposure=(0.90, 1.02),
        saturation=(0.70, 0.85), sigma=(0.6, 1.0), noise=(0.05, 0.07),
        vignetting=(0.05, 0.15),
        class_looks={
            'sky': {'haze': [0.5, 0.7], 'haze_rgb': [0.86, 0.87, 0.88],
                    'extra_sigma_px': [2.0, 3.0]},
            'vegetation': {'gain_r': [0.80, 0.90], 'gain_g': [1.10, 1.20],
                           'gain_b': [0.80, 0.90]},
            'terrain': {'gain_r': [0.85, 0.95], 'gain_g': [1.05, 1.15],
                        'gain_b': [0.85, 0.95]},
        },
        description='class-dependent: hazy, blurred sky and green-dominant '
                    'foliage; high sensor noise'),
}

#: The development camera (kept under its historical name).
CAMERA_MODEL = CAMERA_ZOO['demo']


def camera_model(name_or_model) -> dict:
    """A camera model by zoo name, or a model dict as given (copied)."""
    if isinstance(name_or_model, dict):
        return copy.deepcopy(name_or_model)
    if name_or_model not in CAMERA_ZOO:
        raise ValueError(f'unknown camera {name_or_model!r}; the zoo has '
                         f'{sorted(CAMERA_ZOO)}')
    return copy.deepcopy(CAMERA_ZOO[name_or_model])


def _u(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _class_looks(x: np.ndarray, labels: Optional[np.ndarray], looks: dict,
                 rng: np.random.Generator, p: dict) -> np.ndarray:
    for name in sorted(looks):
        look = looks[name]
        # Draw every parameter even when the class is absent, so the
        # parameters of later images never depend on this image's content.
        gains = np.array([_u(rng, look.get(f'gain_{c}', (1.0, 1.0)))
                          for c in 'rgb'], np.float32)
        haze = _u(rng, look.get('haze', (0.0, 0.0)))
        extra = _u(rng, look.get('extra_sigma_px', (0.0, 0.0)))
        p[name] = dict(gains=[round(float(g), 4) for g in gains],
                       haze=round(haze, 4), extra_sigma_px=round(extra, 4))
        if labels is None:
            raise ValueError(f'camera has class looks ({name}); pass the '
                             'label map')
        mask = labels == NAME_TO_ID[name]
        if not mask.any():
            continue
        y = x * gains
        if haze > 0:
            y = (1 - haze) * y + haze * np.asarray(look['haze_rgb'],
                                                   np.float32)
        if extra > 0:
            y = cv2.GaussianBlur(y, (0, 0), extra,
                                 borderType=cv2.BORDER_REFLECT_101)
        x = np.where(mask[..., None], np.clip(y, 0, 1), x)
    return x


def apply_camera(rgb: np.ndarray, rng: np.random.Generator,
                 camera='demo', labels: Optional[np.ndarray] = None
                 ) -> Tuple[np.ndarray, Dict[str, float]]:
    """Pass a clean float RGB rendering through a camera model.

    Args:
        rgb: HxWx3 float RGB in [0, 1].
        rng: draws this image's camera parameters and noise.
        camera: a :data:`CAMERA_ZOO` name or a model dict.
        labels: HxW Cityscapes label ids (needed for class looks).

    Returns:
        The uint8 RGB image and the parameters drawn for it.
    """
    cm = camera_model(camera)
    wb, ob = cm['white_balance_exposure'], cm['optical_blur']
    p = dict(gain_r=_u(rng, wb['gain_r']), gain_g=_u(rng, wb['gain_g']),
             gain_b=_u(rng, wb['gain_b']), exposure=_u(rng, wb['exposure']),
             saturation_scale=_u(rng, cm['desaturation']['saturation_scale']),
             sigma_px=_u(rng, ob['sigma_px']),
             motion_blur=bool(rng.uniform() < ob['motion_prob']),
             noise_std=_u(rng, cm['sensor_noise']['noise_std']),
             vignetting=_u(rng, cm['vignetting']['strength']))
    h, w = rgb.shape[:2]
    # (1) white balance and exposure
    gains = np.array([p['gain_r'], p['gain_g'], p['gain_b']], np.float32)
    x = np.clip(rgb.astype(np.float32) * gains * np.float32(p['exposure']),
                0, 1)
    # (2) desaturation in HSV
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
    hsv[..., 1] *= np.float32(p['saturation_scale'])
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    # (3) class looks
    if cm.get('class_looks'):
        looks = {}
        x = _class_looks(x, labels, cm['class_looks'], rng, looks)
        p['class_looks'] = looks
    # (4) optical blur (+ centred motion blur: an odd box does not shift)
    x = cv2.GaussianBlur(x, (0, 0), p['sigma_px'],
                         borderType=cv2.BORDER_REFLECT_101)
    if p['motion_blur']:
        n = ob['motion_length_px']
        x = cv2.filter2D(x, -1, np.full((1, n), 1.0 / n, np.float32),
                         borderType=cv2.BORDER_REFLECT_101)
    # (5) sensor noise: variance grows with the signal (shot noise)
    std = p['noise_std'] * np.sqrt(0.5 + np.clip(x, 0, 1))
    x = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    # (6) vignetting
    yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / ((h - 1) / 2)
    xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / ((w - 1) / 2)
    r2 = (yy[:, None] ** 2 + xx[None, :] ** 2) / 2
    x = x * (1 - np.float32(p['vignetting']) * r2)[..., None]
    # (7) quantisation
    out = np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)
    return out, {k: (round(v, 4) if isinstance(v, float) else v)
                 for k, v in p.items()}
