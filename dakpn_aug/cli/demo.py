#!/usr/bin/env python
"""The demo behind ``make demo``: train DA-KPN on the embedded demo data.

Usage:
    python tools/demo.py [--out work_dirs/demo] [--seed 0] [--fast]

Steps (each prints its progress; about 10 minutes on a 2-core CPU):
  1. generate the seeded demo data (synthetic GTA5-layout scenes and a
     "real" Cityscapes-layout domain seen through a camera model);
  2. pretrain the light semantic encoder on the labelled synthetic images
     (``tools/train_segmentor.py mmseg_configs/demo/encoder_demo.py``);
  3. train DA-KPN (``tools/train_dakpn.py mmseg_configs/demo/dakpn_demo.py``),
     which exports ``dakpn/dakpn_bundle.pth``;
  4. translate the held-back synthetic images with the trained bundle (and,
     for reference, with the model's own identity initialisation);
  5. write ``before_after.png``, ``param_maps.png``, the domain-gap tables
     (``domain_gap.md`` / ``domain_gap.json``: whole image and per class)
     and the per-class colour swatches (``domain_gap_swatches.png``) into
     the output folder.

``--fast`` runs a few iterations of each training (a smoke test, not a
result). Nothing is downloaded; everything runs on the CPU.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch


from dakpn_aug import DAKPNTranslator  # noqa: E402
from dakpn_aug.data.cityscapes_labels import (TRAIN_PALETTE,  # noqa: E402
                                              label_ids_to_train_ids)
from dakpn_aug.data.demo import make_demo_data  # noqa: E402
from dakpn_aug.data.layouts import list_images  # noqa: E402
from dakpn_aug.data.readers import read_label, read_rgb  # noqa: E402
from dakpn_aug.image import image_to_tensor  # noqa: E402
from dakpn_aug.domain_stats import (domain_gap, format_pct,  # noqa: E402
                                    write_report)
from dakpn_aug.visualize import (caption, grid,  # noqa: E402
                                 labels_to_color, param_pictures,
                                 write_png)
from . import argument_parser, subcommand
from ..configs import configs_dir

ENCODER_CONFIG = configs_dir() / 'demo' / 'encoder_demo.py'
DAKPN_CONFIG = configs_dir() / 'demo' / 'dakpn_demo.py'
HELD_BACK = 8  # the demo config trains on all but the last 8 source images


def step(msg: str) -> None:
    print(f'\n[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run(cmd, log: Path) -> None:
    """Run a training tool, streaming its progress lines, full log to file."""
    print('      $ ' + ' '.join(str(c) for c in cmd), flush=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            f.write(line)
            if 'Iter(train)' in line or 'Iter(val)' in line or \
                    line.startswith(('bundle:', 'encoder:')):
                # Keep the console readable: iteration, ETA and losses.
                print('      ' + line.split(' - INFO - ')[-1].rstrip()[:160],
                      flush=True)
        if proc.wait() != 0:
            raise SystemExit(f'demo: step failed (exit {proc.returncode}); '
                             f'full log: {log}')


def save_all(images, names, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for img, name in zip(images, names):
        write_png(folder / name, img)


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('--out', default='work_dirs/demo', type=Path)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--fast', action='store_true',
                    help='a few iterations only (smoke test)')
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    t0 = time.time()

    step(f'1/5 demo data -> {out / "data"}')
    make_demo_data(out / 'data', seed=args.seed)
    src_root = out / 'data' / 'gta5'
    real_root = out / 'data' / 'cityscapes'
    sources = list_images(src_root, 'gta5')
    held = sources[-HELD_BACK:]
    print(f'      {len(sources)} synthetic images ({HELD_BACK} held back), '
          f'{len(list_images(real_root, "cityscapes"))} real train images')

    step('2/5 pretraining the semantic encoder on labelled synthetic images')
    enc_dir = out / 'encoder'
    cmd = [*subcommand('train-segmentor'), ENCODER_CONFIG,
           '--work-dir', enc_dir, '--data-root', src_root]
    if args.fast:
        cmd += ['--max-iters', '4']
    run(cmd, out / 'encoder.log')

    step('3/5 training DA-KPN (adversarial, encoder frozen)')
    dakpn_dir = out / 'dakpn'
    cmd = [*subcommand('train-dakpn'), DAKPN_CONFIG,
           '--work-dir', dakpn_dir, '--source-root', src_root,
           '--target-root', real_root, '--encoder-checkpoint',
           enc_dir / 'encoder.pth', '--seed', str(args.seed)]
    if args.fast:
        cmd += ['--max-iters', '4']
    run(cmd, out / 'dakpn.log')
    bundle = dakpn_dir / 'dakpn_bundle.pth'

    step('4/5 translating the held-back synthetic images')
    translator = DAKPNTranslator.from_checkpoint(bundle)
    identity = DAKPNTranslator.from_checkpoint(bundle)
    identity.kpn.reset_to_identity()
    src_imgs = [read_rgb(p) for p in held]
    names = [p.name for p in held]
    # Each image's own labels guide it (label guidance, DAKPNTranslator).
    src_labels = [label_ids_to_train_ids(read_label(src_root / 'labels' /
                                                    p.name)) for p in held]
    translated = [translator(im, labels=lbl)
                  for im, lbl in zip(src_imgs, src_labels)]
    ident = [identity(im, labels=lbl)
             for im, lbl in zip(src_imgs, src_labels)]
    save_all(src_imgs, names, out / 'held_back_source')
    save_all(translated, names, out / 'translated')
    save_all(ident, names, out / 'translated_identity')
    print(f'      {len(held)} images -> {out / "translated"}')

    step('5/5 pictures and the domain-gap table')
    real_val = real_root / 'leftImg8bit' / 'val'
    reals = [read_rgb(p) for p in list_images(real_val, 'folder')]
    rows = []
    for i, p in enumerate(held[:4]):
        label = read_label(src_root / 'labels' / p.name)
        lbl = labels_to_color(label_ids_to_train_ids(label), TRAIN_PALETTE)
        rows.append([src_imgs[i], translated[i], lbl, reals[i % len(reals)]])
    write_png(out / 'before_after.png',
              grid(rows, titles=['synthetic source', 'DA-KPN translation',
                                 'labels (unchanged)', 'real (val) sample']))
    maps = []
    for i in range(2):
        x, _ = image_to_tensor(src_imgs[i])
        params = translator.predict_params(x)
        # Each map carries its own caption (channel, name, value range).
        maps.append([caption(src_imgs[i], 'source'),
                     caption(translated[i], 'translation')] +
                    param_pictures(params, translator.kpn.color_space,
                                   size=src_imgs[i].shape[:2]))
    write_png(out / 'param_maps.png', grid(maps))

    labels = dict(source_labels=src_root / 'labels',
                  real_labels=real_root / 'gtFine' / 'val')
    trained = domain_gap(out / 'held_back_source', out / 'translated',
                         real_val, **labels)
    ident_gap = domain_gap(out / 'held_back_source',
                           out / 'translated_identity', real_val, **labels)
    trained['identity_initialisation_mean_gap_closed'] = \
        ident_gap['gap_closed']['mean']
    trained['seconds'] = round(time.time() - t0)
    write_report(trained, out / 'domain_gap.json',
                 title='DA-KPN (trained) on the held-back demo images')
    print((out / 'domain_gap.md').read_text())
    print('Identity initialisation: mean gap closed '
          f'{format_pct(ident_gap["gap_closed"]["mean"])}')
    print(f'Done in {(time.time() - t0) / 60:.1f} min. Outputs in {out}/:')
    for name in ('before_after.png', 'param_maps.png', 'domain_gap.md',
                 'domain_gap_swatches.png',
                 'dakpn/dakpn_bundle.pth', 'dakpn/vis/', 'translated/',
                 'encoder/encoder.pth'):
        print(f'  {out / name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
