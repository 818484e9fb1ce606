#!/usr/bin/env python
"""FCN-score (paper table 1): a segmenter trained on the REAL domain,
evaluated on translated synthetic images with their synthetic labels.

Usage:
    python tools/fcn_score.py SEG_CONFIG SEG_WEIGHTS IMAGES_ROOT
        [--work-dir DIR] [--out score.json]

SEG_CONFIG / SEG_WEIGHTS: an mmseg config and the weights of a segmenter
trained on real images (e.g. ``tools/train_segmentor.py`` on a
Cityscapes-layout folder writes ``encoder.pth``); weights load with
``weights_only=True``. IMAGES_ROOT: a GTA5-layout folder of translated
images with their labels (``tools/translate_dataset.py BUNDLE SRC OUT
--labels copy``). The config's test pipeline is used; the scores are mmseg's
IoUMetric: pxAcc (aAcc), clsAcc (mAcc) and mIoU, in percent. Evaluate the
untranslated source folder the same way for the baseline.

The downstream evaluation (train on translated source, evaluate on real
val) is a normal mmseg training: ``mmseg_configs/downstream/``.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import sys
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from . import argument_parser  # noqa: E402


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('config', help='mmseg config of the real-trained '
                    'segmenter (SEG_CONFIG)')
    ap.add_argument('weights', help='its weights (SEG_WEIGHTS)')
    ap.add_argument('images_root', help='GTA5-layout folder of translated '
                    'images and their labels')
    ap.add_argument('--work-dir', default=None)
    ap.add_argument('--out', type=Path, default=None)
    args = ap.parse_args(argv)
    for what, path in (('weights', args.weights),
                       ('images root', args.images_root)):
        if not osp.exists(path):
            raise SystemExit(f'fcn_score: error: {what} not found: {path}')
    if not osp.isdir(osp.join(args.images_root, 'labels')):
        raise SystemExit(
            f'fcn_score: error: {args.images_root} has no labels/ folder; '
            'translate with tools/translate_dataset.py ... --labels copy')

    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.runner import Runner

    from dakpn_aug.engine import trust_checkpoints_under
    from dakpn_aug.engine.launch import load_config, setup_device

    cfg = load_config(args.config, work_dir=args.work_dir or osp.join(
        'work_dirs', 'fcn_score'))
    test = cfg.get('test_dataloader') or cfg.val_dataloader
    pipeline = test.dataset.pipeline
    test.dataset = dict(type='GTA5Dataset', data_root=args.images_root,
                        pipeline=pipeline)
    test.num_workers = min(2, test.get('num_workers', 2))
    test.persistent_workers = False
    cfg.test_dataloader = test
    cfg.test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    cfg.test_cfg = dict(type='TestLoop')
    cfg.load_from = args.weights
    cfg.default_hooks.pop('visualization', None)
    setup_device(cfg, 'none', 'MMDistributedDataParallel')
    trust_checkpoints_under(cfg.work_dir)  # other files: weights only
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    score = dict(pxAcc=float(metrics['aAcc']), clsAcc=float(metrics['mAcc']),
                 mIoU=float(metrics['mIoU']), images=args.images_root,
                 config=args.config, weights=args.weights)
    print('| images | pxAcc | clsAcc | mIoU |\n|---|---|---|---|')
    print(f'| {args.images_root} | {score["pxAcc"]:.2f} | '
          f'{score["clsAcc"]:.2f} | {score["mIoU"]:.2f} |')
    out = args.out or Path(cfg.work_dir) / 'fcn_score.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(score, indent=2))
    print(f'written: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
