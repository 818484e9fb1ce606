"""Seeded procedural demo data: a synthetic and a "real" street-scene domain.

:func:`make_demo_data` writes two small segmentation data sets with
**Cityscapes label ids** (GTA5 uses the same ids), so the translator, the
demo and the tests have a syn2real pair to work on without any download::

    OUT/gta5/images/00000.png      RGB, synthetic domain
    OUT/gta5/labels/00000.png      uint8 label ids, same name and size
    OUT/cityscapes/leftImg8bit/{train,val}/CITY/
        CITY_000000_000019_leftImg8bit.png       RGB, "real" domain
    OUT/cityscapes/gtFine/{train,val}/CITY/
        CITY_000000_000019_gtFine_labelIds.png   uint8 label ids
    OUT/demo_data.json             the summary returned by make_demo_data

Cityscapes names are ``{city}_{seq:06d}_{frame:06d}_...``; here ``seq`` is
the image index and ``frame`` is 19. The train split lies in the city
``city_train``, the val split in ``city_val``.

Scenes (:mod:`dakpn_aug.data.scene`) and the camera model of the real
domain (:mod:`dakpn_aug.data.cameras`) are documented in their modules.

Determinism
-----------
Image ``i`` of stream ``k`` (0 synthetic, 1 real train, 2 real val) is drawn
from ``np.random.SeedSequence(seed, spawn_key=(k, i))`` (its first child
draws the scene, its second the camera parameters): the same seed gives
byte-identical PNGs (same NumPy/OpenCV build), and changing one count does not
change the images of the other streams. Rerunning into the same folder
overwrites the files and deletes generated images an earlier, larger run left
there, so the folders always hold exactly the summarised set.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from .cameras import CAMERA_MODEL, CAMERA_ZOO, apply_camera, camera_model
from .cityscapes_labels import ID_TO_TRAINID
from .scene import (LABEL_IDS, LABEL_NAMES, REAL_STYLE, SYNTHETIC_STYLE,
                    render_scene)

__all__ = ['make_demo_data', 'render_scene', 'apply_camera', 'LABEL_NAMES',
           'LABEL_IDS', 'CAMERA_MODEL', 'CAMERA_ZOO', 'SYNTHETIC_STYLE',
           'REAL_STYLE']

#: Stream index of each part of the data in the per-image seed.
_STREAMS = {'source': 0, 'real_train': 1, 'real_val': 2}
_FRAME = 19  # Cityscapes' annotated frame of each sequence snippet


# --------------------------------------------------------------------------
# Data set writer
# --------------------------------------------------------------------------
def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _write_png(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
    if not cv2.imwrite(str(path), img):
        raise OSError(f'could not write {path}')


def _remove_stale(folder: Path, pattern: str, keep: set) -> None:
    """Delete PNGs an earlier, larger run left behind (only names this
    generator writes), so the folders hold exactly the summarised set."""
    rx = re.compile(pattern)
    for f in folder.glob('*.png'):
        if rx.fullmatch(f.name) and f.name not in keep:
            f.unlink()


def _check_size(name: str, size) -> Tuple[int, int]:
    h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise ValueError(f'{name} must be at least 32x32, got {h}x{w}')
    return h, w


def make_demo_data(out_dir, seed: int = 0, num_source: int = 48,
                   num_real_train: int = 48, num_real_val: int = 16,
                   source_size: Tuple[int, int] = (192, 320),
                   real_size: Tuple[int, int] = (176, 352),
                   city_train: str = 'demotown',
                   city_val: str = 'valville',
                   camera='demo') -> dict:
    """Write the seeded demo data set under ``out_dir`` (see the module
    docstring for the layout and the camera model).

    Sizes are ``(height, width)``. Returns a summary (seed, counts, sizes,
    folders relative to ``out_dir``, the camera model's ranges and the
    parameters drawn per real image, the label ids), also written to
    ``out_dir/demo_data.json``.

    ``camera`` is the real domain's camera model: a name from
    :data:`~dakpn_aug.data.cameras.CAMERA_ZOO` or a model dict. The scenes
    and the synthetic images do not depend on it, so every camera of the
    zoo sees the same synthetic source set.
    """
    camera_cfg = camera_model(camera)
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    counts = dict(source=int(num_source), real_train=int(num_real_train),
                  real_val=int(num_real_val))
    if min(counts.values()) < 0:
        raise ValueError(f'counts must be >= 0, got {counts}')
    source_size = _check_size('source_size', source_size)
    real_size = _check_size('real_size', real_size)
    for city in (city_train, city_val):
        if not re.fullmatch(r'[A-Za-z0-9-]+', city):
            # Cityscapes file names are split on '_'.
            raise ValueError(f'city names must be [A-Za-z0-9-]+, got {city!r}')

    out = Path(out_dir)
    folders = {
        'source_images': 'gta5/images', 'source_labels': 'gta5/labels',
        'real_train_images': f'cityscapes/leftImg8bit/train/{city_train}',
        'real_train_labels': f'cityscapes/gtFine/train/{city_train}',
        'real_val_images': f'cityscapes/leftImg8bit/val/{city_val}',
        'real_val_labels': f'cityscapes/gtFine/val/{city_val}',
    }
    for rel in folders.values():
        (out / rel).mkdir(parents=True, exist_ok=True)

    def rngs(stream: str, i: int):
        ss = np.random.SeedSequence(seed, spawn_key=(_STREAMS[stream], i))
        scene, camera = ss.spawn(2)
        return np.random.default_rng(scene), np.random.default_rng(camera)

    present = set()
    names = [f'{i:05d}.png' for i in range(counts['source'])]
    for i, name in enumerate(names):
        rgb, lbl = render_scene(rngs('source', i)[0], source_size,
                                SYNTHETIC_STYLE)
        _write_png(out / folders['source_images'] / name, _to_uint8(rgb))
        _write_png(out / folders['source_labels'] / name, lbl)
        present.update(np.unique(lbl).tolist())
    for key in ('source_images', 'source_labels'):
        _remove_stale(out / folders[key], r'\d{5}\.png', set(names))

    real_images = []
    for split, city in (('train', city_train), ('val', city_val)):
        stem = [f'{city}_{i:06d}_{_FRAME:06d}'
                for i in range(counts[f'real_{split}'])]
        for i, base in enumerate(stem):
            scene_rng, cam_rng = rngs(f'real_{split}', i)
            rgb, lbl = render_scene(scene_rng, real_size, REAL_STYLE)
            img, params = apply_camera(rgb, cam_rng, camera_cfg, lbl)
            rel = f'{folders[f"real_{split}_images"]}/{base}_leftImg8bit.png'
            _write_png(out / rel, img)
            _write_png(out / folders[f'real_{split}_labels']
                       / f'{base}_gtFine_labelIds.png', lbl)
            present.update(np.unique(lbl).tolist())
            real_images.append(dict(file=rel, split=split, camera=params))
        for kind, suffix in (('images', 'leftImg8bit'),
                             ('labels', 'gtFine_labelIds')):
            _remove_stale(out / folders[f'real_{split}_{kind}'],
                          rf'{re.escape(city)}_\d{{6}}_\d{{6}}_{suffix}\.png',
                          {f'{b}_{suffix}.png' for b in stem})

    summary = {
        'generator': 'dakpn_aug.data.demo.make_demo_data',
        'seed': int(seed),
        'counts': counts,
        'sizes_hw': {'source': list(source_size), 'real': list(real_size)},
        'cities': {'train': city_train, 'val': city_val},
        'folders': folders,
        'label_ids': dict(LABEL_IDS),
        'label_ids_present': sorted(int(v) for v in present),
        'train_ids': {n: ID_TO_TRAINID[i] for n, i in LABEL_IDS.items()},
        'camera': camera if isinstance(camera, str) else 'custom',
        'camera_model': camera_cfg,
        'real_images': real_images,
    }
    (out / 'demo_data.json').write_text(json.dumps(summary, indent=2) + '\n')
    return summary
