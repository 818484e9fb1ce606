#!/usr/bin/env python
"""The demo behind ``make demo``: DA-KPN on the embedded demo data.

Usage:
    python tools/demo.py [--out work_dirs/demo] [--seed 0] [--num-images 4]

Steps (each prints its progress):
  1. generate the seeded demo data (synthetic GTA5-layout scenes and a
     "real" Cityscapes-layout domain seen through a camera model);
  2. translate held-back synthetic images with an identity-initialised
     translator (FCN encoder + KPN): the output equals the input;
  3. translate them with hand-set, per-class parameters (what a trained KPN
     predicts: desaturate, blur, add noise, more on some classes than
     others), built from the label map at the encoder's 96x160 resolution;
  4. write ``before_after.png`` (source | identity | hand-set | a real
     image), ``param_maps.png``, the translated PNGs and ``summary.json``
     with the domain statistics (how much of the gap the hand-set
     translation closes).

Nothing is downloaded; everything runs on the CPU in well under a minute.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dakpn_aug import DAKPNTranslator  # noqa: E402
from dakpn_aug import functional as DF  # noqa: E402
from dakpn_aug.data.cityscapes_labels import (NAME_TO_ID,  # noqa: E402
                                              TRAIN_PALETTE,
                                              label_ids_to_train_ids)
from dakpn_aug.data.demo import make_demo_data  # noqa: E402
from dakpn_aug.domain_stats import dataset_stats, gap_closed  # noqa: E402
from dakpn_aug.visualize import (grid, labels_to_color,  # noqa: E402
                                 param_map_images, read_rgb, write_png)

#: Hand-set parameters per class (label name -> overrides). Everything gets
#: the base look: less saturated, slightly darker, blurred, noisy.
BASE = dict(w_s=0.65, w_v=0.95, b_v=0.02, sigma=1.3, noise=0.06)
PER_CLASS = {
    'sky': dict(w_s=0.45, b_v=0.06, sigma=1.8),
    'vegetation': dict(w_s=0.55, sigma=1.0),
    'car': dict(w_s=0.5, sigma=1.6),
    'road': dict(sigma=1.5, noise=0.08),
}


def step(msg: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def handset_params(label_ids: np.ndarray, size=(96, 160)) -> torch.Tensor:
    """(1, 12, h, w) parameters from a label-id map (nearest resize)."""
    small = cv2.resize(label_ids, (size[1], size[0]),
                       interpolation=cv2.INTER_NEAREST)
    p = DF.identity_params(1, size)
    fields = {k: torch.full(size, float(v)) for k, v in BASE.items()}
    for name, over in PER_CLASS.items():
        mask = torch.from_numpy(small == NAME_TO_ID[name])
        for k, v in over.items():
            fields[k][mask] = float(v)
    p[0, 1] = fields['w_s']
    p[0, 2] = fields['w_v']
    p[0, 5] = fields['b_v']
    p[0, 6:9] = fields['sigma']
    p[0, 9:12] = fields['noise']
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='work_dirs/demo', type=Path)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--num-images', type=int, default=4,
                    help='held-back synthetic images to translate')
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    step(f'1/4 generating demo data in {out / "data"}')
    summary = make_demo_data(out / 'data', seed=args.seed)
    src_imgs = sorted((out / 'data' / 'gta5' / 'images').glob('*.png'))
    src_lbls = sorted((out / 'data' / 'gta5' / 'labels').glob('*.png'))
    real_imgs = sorted(
        (out / 'data' / 'cityscapes' / 'leftImg8bit').rglob('*.png'))
    held = list(zip(src_imgs, src_lbls))[-args.num_images:]
    print(f'      {len(src_imgs)} synthetic, {len(real_imgs)} real images')

    step('2/4 identity-initialised translator (FCN encoder + KPN)')
    translator = DAKPNTranslator.build('fcn_tiny', noise='fixed')
    sources = [read_rgb(p) for p, _ in held]
    identity = [translator(img) for img in sources]
    worst = max(int(np.abs(a.astype(int) - b).max())
                for a, b in zip(identity, sources))
    print(f'      max |identity - source| = {worst} grey levels')
    if worst != 0:
        raise SystemExit('identity translation changed the image: bug')

    step('3/4 hand-set per-class parameters (a stand-in for a trained KPN)')
    handset, params = [], []
    for img, (_, lbl_path) in zip(sources, held):
        label = cv2.imread(str(lbl_path), cv2.IMREAD_UNCHANGED)
        p = handset_params(label)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        y = translator.translate_batch(x, params=p)
        handset.append(np.clip(np.rint(y[0].permute(1, 2, 0).numpy() * 255),
                               0, 255).astype(np.uint8))
        params.append(p)
    trans_dir = out / 'translated_handset'
    trans_dir.mkdir(exist_ok=True)
    for (src, _), img in zip(held, handset):
        write_png(trans_dir / src.name, img)

    step('4/4 pictures and statistics')
    reals = [read_rgb(p) for p in real_imgs[:len(held)]]
    rows = []
    for i, (src, ident, hs) in enumerate(zip(sources, identity, handset)):
        label = cv2.imread(str(held[i][1]), cv2.IMREAD_UNCHANGED)
        lbl = labels_to_color(label_ids_to_train_ids(label), TRAIN_PALETTE)
        rows.append([src, ident, hs, lbl, reals[i % len(reals)]])
    picture = grid(rows, titles=['synthetic source', 'identity init',
                                 'hand-set translation', 'labels (unchanged)',
                                 'real domain sample'])
    write_png(out / 'before_after.png', picture)
    maps = [[sources[i]] + param_map_images(
        params[i], size=sources[i].shape[:2]) for i in range(min(2, len(held)))]
    write_png(out / 'param_maps.png',
              grid(maps, titles=['source', 'w_v', 'b_v', 'sigma_b', 'n_r']))

    s_stats = dataset_stats(sources)
    h_stats = dataset_stats(handset)
    r_stats = dataset_stats(read_rgb(p) for p in real_imgs)
    closed = gap_closed(s_stats, h_stats, r_stats)
    result = dict(data=summary, source=s_stats, handset=h_stats,
                  real=r_stats, gap_closed_by_handset=closed,
                  seconds=round(time.time() - t0, 1))
    (out / 'summary.json').write_text(json.dumps(result, indent=2))
    print('\n      statistic        source   hand-set   real   gap closed')
    for k in s_stats:
        print(f'      {k:15s} {s_stats[k]:8.4f} {h_stats[k]:9.4f} '
              f'{r_stats[k]:7.4f} {closed[k]:9.0%}')
    print(f'\nDone in {time.time() - t0:.0f} s. Outputs in {out}/:')
    for name in ('before_after.png', 'param_maps.png', 'summary.json',
                 'translated_handset/', 'data/'):
        print(f'  {out / name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
