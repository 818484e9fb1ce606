#!/usr/bin/env python
"""Stage 2: adapt an mmseg segmentor to unlabelled target images
(``UDASegmentor`` + ``UDADataset`` configs) with an mmengine Runner, and
export the adapted segmentor as a plain mmseg model.

Usage:
    python tools/train_uda.py CONFIG [--work-dir DIR] [--source-root DIR]
        [--target-root DIR] [--bundle PATH] [--target-bundle PATH]
        [--seed S] [--max-iters N]
        [--resume] [--launcher none|pytorch] [--cfg-options KEY=VALUE ...]

    # two processes (CPU with gloo, or two GPUs with nccl):
    torchrun --nproc_per_node=2 tools/train_uda.py CONFIG --launcher pytorch

``--source-root`` replaces the source dataset's ``data_root`` (labelled,
synthetic), ``--target-root`` the target's and the val/test datasets'
(real; the train split's labels are never read, the val split's are what
the run is scored on). ``--bundle`` switches on online DA-KPN for the
source half of every batch (or replaces the config's bundle).

At the end the run writes ``DIR/segmentor.pth`` and
``DIR/segmentor_config.py``, which mmseg's ``init_model(config,
checkpoint)`` and ``inference_model`` load without dakpn-aug. ``--resume``
continues from the last checkpoint in DIR and gives the same result as an
uninterrupted run (iteration counter, method state, optimisers, data
order and per-step random draws are restored).
"""
from __future__ import annotations

import os
import os.path as osp
import sys

# Spinning OpenMP threads fight the dataloader workers for the cores; on a
# 2-core CPU that made training 10x slower. Must be set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from . import argument_parser  # noqa: E402


def parse_args(argv=None):
    from dakpn_aug.engine.launch import add_runner_args, parse_runner_args
    ap = argument_parser(__doc__)
    ap.add_argument('config', help='UDA config (model.type=UDASegmentor)')
    ap.add_argument('--work-dir', help='logs, checkpoints and the exported '
                    'segmentor (default work_dirs/CONFIG_NAME)')
    ap.add_argument('--source-root', help='labelled source dataset root')
    ap.add_argument('--target-root', help='target dataset root (train split '
                    'unlabelled in use, val split for scoring)')
    ap.add_argument('--bundle', help='DA-KPN bundle for online translation '
                    'of the source half of each batch')
    ap.add_argument('--target-bundle', help='target -> source DA-KPN bundle '
                    '(tools/train_dakpn.py --reverse) for the target half '
                    '(the symmetric recipe\'s model B)')
    add_runner_args(ap)
    return parse_runner_args(ap, argv)


def _fail(msg: str) -> None:
    raise SystemExit(f'train_uda: error: {msg}')


def _eval_datasets(cfg):
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset') is not None:
            yield loader.dataset


def build_config(args):
    from dakpn_aug.engine.launch import (load_config, set_max_iters,
                                         set_seed, setup_device)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if cfg.model.get('type') != 'UDASegmentor':
        _fail(f'{args.config} is not a UDA config (model.type is '
              f'{cfg.model.get("type")!r}, expected UDASegmentor); train '
              'plain segmentors with tools/train_segmentor.py')
    ds = cfg.train_dataloader.dataset
    if args.source_root:
        ds.source.data_root = args.source_root
    if args.target_root:
        ds.target.data_root = args.target_root
        for eval_ds in _eval_datasets(cfg):
            eval_ds.data_root = args.target_root
    for name in ('source', 'target'):
        root = ds[name].get('data_root')
        if root and not osp.isdir(root):
            _fail(f'{name} dataset folder does not exist: {root} (pass '
                  f'--{name}-root)')
    for key, path in (('translation', args.bundle),
                      ('target_translation', args.target_bundle)):
        if path:
            trans = dict(cfg.model.get(key) or dict(prob=1.0))
            trans['checkpoint'] = path
            cfg.model[key] = trans
        trans = cfg.model.get(key)
        if trans and not osp.isfile(trans['checkpoint']):
            flag = '--bundle' if key == 'translation' else '--target-bundle'
            _fail(f'DA-KPN bundle not found: {trans["checkpoint"]} (pass '
                  f'{flag}, or train one with tools/train_dakpn.py)')
    if args.max_iters is not None:
        set_max_iters(cfg, args.max_iters)
    set_seed(cfg, args.seed)
    if args.seed is not None:
        ds.seed = args.seed
        cfg.model.seed = args.seed
    cfg.resume = bool(args.resume)
    # Separate DDP wrappers: the segmentor, each discriminator (GAN-style
    # alternating updates); frozen nets (the EMA teacher) are not wrapped.
    setup_device(cfg, args.launcher, 'MMSeparateDistributedDataParallel')
    if args.launcher != 'none':
        cfg.model_wrapper_cfg.update(broadcast_buffers=False,
                                     find_unused_parameters=False)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import dakpn_aug.mmseg  # noqa: F401  (registers UDASegmentor & co.)
    from dakpn_aug.engine.launch import run_training
    from dakpn_aug.uda import export_segmentor

    cfg = build_config(args)

    def export(runner, metrics, iteration):
        extra = dict(iterations=int(runner.iter),
                     config=osp.basename(cfg.filename),
                     seed=cfg.randomness.get('seed'))
        if metrics:
            extra.update(val_metrics=metrics, val_iteration=iteration)
            if 'mIoU' in metrics:
                extra['mIoU'] = metrics['mIoU']  # percent
        meta = runner.train_dataloader.dataset.metainfo
        ckpt, config = export_segmentor(
            runner.model, cfg, cfg.work_dir,
            dataset_meta=dict(classes=meta.get('classes'),
                              palette=meta.get('palette')),
            extra_meta=extra)
        runner.logger.info(f'adapted segmentor written to {ckpt} and '
                           f'{config} (plain mmseg: init_model(config, '
                           'checkpoint))')
        miou = f', mIoU {extra["mIoU"]:.2f}' if 'mIoU' in extra else ''
        print(f'segmentor: {ckpt} ({runner.iter} iterations{miou})')

    run_training(cfg, args.launcher, 'train_uda', 'UDA training', export)
    return 0


if __name__ == '__main__':
    sys.exit(main())
