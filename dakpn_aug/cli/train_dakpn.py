#!/usr/bin/env python
"""Train DA-KPN with an mmengine Runner and export the translator bundle.

Usage:
    python tools/train_dakpn.py CONFIG [--work-dir DIR] [--source-root DIR]
        [--target-root DIR] [--encoder-checkpoint PATH] [--max-iters N]
        [--resume] [--seed S] [--cfg-options KEY=VALUE ...]
        [--launcher none|pytorch] [--reverse]

    # two processes (CPU with gloo, or two GPUs with nccl):
    torchrun --nproc_per_node=2 tools/train_dakpn.py CONFIG --launcher pytorch

``--source-root`` is a GTA5-layout folder (images/, labels/) or any image
folder; ``--target-root`` a Cityscapes-layout folder (leftImg8bit/train) or
any image folder. ``--reverse`` trains the other direction, target ->
source (real images made to look synthetic, for symmetric stage-2
adaptation): same roots, swapped roles, same source-trained encoder (the
target has no labels); the bundle's metadata records the direction.
``--encoder-checkpoint`` is the ``encoder.pth`` written by
``tools/train_segmentor.py`` (or any mmseg checkpoint of the encoder config).

At the end the run writes ``DIR/dakpn_bundle.pth``, the file that
``DAKPNTranslator.from_checkpoint``, the mmseg transform and the
albumentations transform load. ``--resume`` continues from the last
checkpoint in DIR (iteration, optimizers, data order): only checkpoints
inside DIR are trusted for full unpickling; everything else loads with
``weights_only=True``.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from pathlib import Path

# Spinning OpenMP threads fight the dataloader workers for the cores; on a
# 2-core CPU that made training 10x slower. Must be set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from . import argument_parser  # noqa: E402


def parse_args(argv=None):
    from dakpn_aug.engine.launch import add_runner_args, parse_runner_args
    ap = argument_parser(__doc__)
    ap.add_argument('config', help='training config file')
    ap.add_argument('--work-dir', help='where logs, checkpoints, pictures '
                    'and the bundle go (default work_dirs/CONFIG_NAME)')
    ap.add_argument('--source-root', help='synthetic (source) dataset root')
    ap.add_argument('--target-root', help='real (target) dataset root')
    ap.add_argument('--encoder-checkpoint', help='pretrained encoder weights')
    ap.add_argument('--reverse', action='store_true',
                    help='train the target -> source translator (T -> S, '
                    'for symmetric stage-2 adaptation): real images are '
                    'translated to look synthetic; --source-root and '
                    '--target-root keep their meaning (synthetic, real) and '
                    'swap roles; the encoder stays the source-trained one')
    add_runner_args(ap)
    return parse_runner_args(ap, argv)


def _fail(msg: str) -> None:
    raise SystemExit(f'train_dakpn: error: {msg}')


def build_config(args):
    from dakpn_aug.engine.launch import (load_config, set_max_iters,
                                         set_seed, setup_device)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    ds = cfg.train_dataloader.dataset
    if args.source_root:
        ds.source_root = args.source_root
    if args.target_root:
        ds.target_root = args.target_root
    for key in ('source_root', 'target_root'):
        if not osp.isdir(ds[key]):
            _fail(f'{key.replace("_", " ")} folder does not exist: '
                  f'{ds[key]} (pass --{key.replace("_", "-")})')
    if args.reverse:
        # The translator's input domain is the real data now; the encoder
        # (trained on labelled synthetic images, with photometric and
        # blur/noise augmentation) labels both domains.
        ds.source_root, ds.target_root = ds.target_root, ds.source_root
    if args.encoder_checkpoint:
        cfg.model.encoder.checkpoint = args.encoder_checkpoint
    ckpt = cfg.model.encoder.get('checkpoint')
    if ckpt and not osp.isfile(ckpt):
        _fail(f'encoder checkpoint not found: {ckpt}')
    if not ckpt:
        print('train_dakpn: warning: no encoder checkpoint; the encoder is '
              'randomly initialised (pretrain one with '
              'tools/train_segmentor.py)', file=sys.stderr)
    if args.max_iters is not None:
        set_max_iters(cfg, args.max_iters)
    set_seed(cfg, args.seed)
    if args.seed is not None:
        ds.seed = args.seed
    cfg.resume = bool(args.resume)
    cfg.dakpn_direction = ('target->source' if args.reverse
                           else 'source->target')
    # Separate DDP wrappers for the KPN and the discriminator (GAN updates).
    setup_device(cfg, args.launcher, 'MMSeparateDistributedDataParallel')
    if args.launcher != 'none':
        cfg.model_wrapper_cfg.update(broadcast_buffers=False,
                                     find_unused_parameters=False)
    return cfg


def export_bundle(runner, cfg) -> Path:
    model = runner.model
    model = getattr(model, 'module', model)
    path = Path(cfg.work_dir) / 'dakpn_bundle.pth'
    model.to_translator().save(path, extra_meta=dict(
        iterations=int(runner.iter), config=osp.basename(cfg.filename),
        seed=cfg.randomness.get('seed'),
        direction=cfg.get('dakpn_direction', 'source->target')))
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    import dakpn_aug.mmseg  # noqa: F401  (registers DAKPN & co.)
    from dakpn_aug.engine.launch import run_training

    cfg = build_config(args)

    def export(runner, metrics, iteration):
        path = export_bundle(runner, cfg)
        runner.logger.info(f'DA-KPN bundle written to {path}')
        print(f'bundle: {path}')

    run_training(cfg, args.launcher, 'train_dakpn', 'DA-KPN training',
                 export)
    return 0


if __name__ == '__main__':
    sys.exit(main())
