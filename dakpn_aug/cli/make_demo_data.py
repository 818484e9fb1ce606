#!/usr/bin/env python
"""Write the seeded procedural demo data (synthetic GTA5-layout scenes and a
"real" Cityscapes-layout domain seen through a camera model).

Usage:
    python tools/make_demo_data.py OUT [--seed S] [--num-source N]
        [--num-real-train N] [--num-real-val N] [--source-size HxW]
        [--real-size HxW] [--city-train NAME] [--city-val NAME]

Writes ``OUT/gta5/{images,labels}/*.png``,
``OUT/cityscapes/{leftImg8bit,gtFine}/{train,val}/CITY/*.png`` and
``OUT/demo_data.json`` (the summary: seed, counts, sizes, folders, camera
model ranges and per-image parameters, label ids). The same seed gives
byte-identical files. See ``dakpn_aug/data/demo.py`` for the scenes and the
camera model.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from dakpn_aug.data.demo import CAMERA_ZOO, make_demo_data  # noqa: E402
from . import argument_parser, count_arg, size_arg


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and every option's default."""


def main(argv=None) -> int:
    ap = argument_parser(__doc__, formatter_class=HelpFormatter)
    ap.add_argument('out', type=Path, help='output folder')
    count = count_arg(0)
    ap.add_argument('--seed', type=count, default=0, help='random seed')
    ap.add_argument('--num-source', type=count, default=48, metavar='N',
                    help='synthetic (GTA5-layout) images')
    ap.add_argument('--num-real-train', type=count, default=48, metavar='N',
                    help='real-domain train images')
    ap.add_argument('--num-real-val', type=count, default=16, metavar='N',
                    help='real-domain val images')
    ap.add_argument('--source-size', type=size_arg, default='192x320',
                    metavar='HxW', help='synthetic image size')
    ap.add_argument('--real-size', type=size_arg, default='176x352',
                    metavar='HxW', help='real-domain image size')
    ap.add_argument('--city-train', default='demotown', metavar='NAME',
                    help='city (folder and file prefix) of the train split')
    ap.add_argument('--city-val', default='valville', metavar='NAME',
                    help='city of the val split')
    ap.add_argument('--camera', default='demo', choices=sorted(CAMERA_ZOO),
                    help='camera model of the real domain (see '
                    'dakpn_aug/data/cameras.py); "demo" is the development '
                    'camera, the others are held out')
    args = ap.parse_args(argv)

    t0 = time.time()
    try:
        s = make_demo_data(args.out, seed=args.seed,
                           num_source=args.num_source,
                           num_real_train=args.num_real_train,
                           num_real_val=args.num_real_val,
                           source_size=args.source_size,
                           real_size=args.real_size,
                           city_train=args.city_train,
                           city_val=args.city_val,
                           camera=args.camera)
    except ValueError as e:
        ap.error(str(e))
    c, f = s['counts'], s['folders']
    (sh, sw), (rh, rw) = s['sizes_hw']['source'], s['sizes_hw']['real']
    print(f'Demo data (seed {s["seed"]}, camera {s["camera"]}) in {args.out} '
          f'({time.time() - t0:.1f} s):')
    print(f'  synthetic  {c["source"]:4d} x {sh}x{sw}  '
          f'{f["source_images"]}/, {f["source_labels"]}/')
    print(f'  real train {c["real_train"]:4d} x {rh}x{rw}  '
          f'{f["real_train_images"]}/, {f["real_train_labels"]}/')
    print(f'  real val   {c["real_val"]:4d} x {rh}x{rw}  '
          f'{f["real_val_images"]}/, {f["real_val_labels"]}/')
    print(f'  label ids present: {s["label_ids_present"]}')
    print(f'  summary: {args.out / "demo_data.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
