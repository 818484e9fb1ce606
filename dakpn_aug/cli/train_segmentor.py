#!/usr/bin/env python
"""Pretrain DA-KPN's semantic encoder (an mmseg segmentor) and export it.

Usage:
    python tools/train_segmentor.py CONFIG [--work-dir DIR] [--data-root DIR]
        [--val-data-root DIR] [--max-iters N] [--resume] [--seed S]
        [--cfg-options KEY=VALUE ...] [--launcher none|pytorch]

    # two processes (CPU with gloo, or two GPUs with nccl):
    torchrun --nproc_per_node=2 tools/train_segmentor.py CONFIG \\
        --launcher pytorch

Configs: ``mmseg_configs/fcn_r50-d8_gta5-96x160_encoder.py`` (DA-KPN-S,
labelled source), ``mmseg_configs/fcn_r50-d8_cityscapes-96x160_encoder.py``
(DA-KPN-T, labelled target), ``mmseg_configs/demo/encoder_demo.py`` (CPU
demo).

``--data-root DIR`` is a GTA5-layout folder (``images/``, ``labels/``) or a
Cityscapes-layout folder (``leftImg8bit/``, ``gtFine/``). It becomes the
root of the training set (its ``train`` split for Cityscapes; the dataset
type follows the layout) and of the validation set when that has the same
layout or when DIR is Cityscapes-layout (then its ``val`` split). A GTA5
folder leaves a Cityscapes validation set where it is (the paper's
source-only setting); ``--val-data-root`` points that one elsewhere.

At the end the run writes ``DIR/encoder.pth``: ``{'state_dict': segmentor
weights (CPU tensors), 'meta': {config, iterations, classes, mIoU, ...}}``,
loadable with ``torch.load(path, weights_only=True)`` and by
``dakpn_aug.models.SemanticEncoder(PRESET_OR_CONFIG, checkpoint=path)``
(``tools/train_dakpn.py --encoder-checkpoint``). ``--resume`` continues from
the last checkpoint in the work dir; only checkpoints inside it are trusted
for full unpickling, everything else loads with ``weights_only=True``.
Resume with the same ``--max-iters`` as the interrupted run: the LR
schedule is rescaled to ``--max-iters`` when the run is built, but mmengine
restores the schedulers' ``begin``/``end`` from the checkpoint.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import sys
from pathlib import Path


# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning.
# With 2 compute threads plus data-loader workers on 2 cores, spinning
# threads that get preempted made CPU iterations 3-10x slower (measured with
# fcn_tiny, batch 8); set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from dakpn_aug.fileio import write_atomic  # noqa: E402
from dakpn_aug.data.layouts import (  # noqa: E402
    DATASET_TYPES, dataset_config, dataset_layout, labelled_layout)
from dakpn_aug.errors import DAKPNInputError  # noqa: E402
from . import argument_parser  # noqa: E402


def parse_args(argv=None):
    from dakpn_aug.engine.launch import add_runner_args, parse_runner_args
    ap = argument_parser(__doc__)
    ap.add_argument('config', help='training config file')
    ap.add_argument('--work-dir', help='where logs, checkpoints and '
                    'encoder.pth go (default work_dirs/CONFIG_NAME)')
    ap.add_argument('--data-root', help='GTA5-layout or Cityscapes-layout '
                    'folder to train on (see the module docstring)')
    ap.add_argument('--val-data-root', help='GTA5-layout or Cityscapes-'
                    'layout folder to validate on (Cityscapes: val split)')
    add_runner_args(ap)
    return parse_runner_args(ap, argv)


def _fail(msg: str) -> None:
    raise SystemExit(f'train_segmentor: error: {msg}')


# --------------------------------------------------------------------------
# Data roots
# --------------------------------------------------------------------------
def detect_layout(root: str) -> str:
    """'gta5' or 'cityscapes' (clear error for anything else)."""
    try:
        return labelled_layout(root)
    except DAKPNInputError as e:
        _fail(str(e))


def _layout_of(ds) -> str:
    return dataset_layout(ds) or ds.get('type')


def point_dataset(ds, root: str, layout: str, split: str):
    """``ds`` (a dataset config) reading ``root`` of ``layout``: same type
    -> only its root changes; otherwise a dataset of the layout's type with
    the same pipeline."""
    from mmengine.config import ConfigDict
    if _layout_of(ds) == layout:
        ds.data_root = root
        if layout == 'cityscapes':
            # Reads labelTrainIds or, if absent, labelIds.
            ds.type = DATASET_TYPES['cityscapes'][0]
        return ds
    return ConfigDict(dataset_config(layout, root, split,
                                     ds.get('pipeline', [])))


def set_data_roots(cfg, data_root, val_data_root) -> None:
    if data_root:
        layout = detect_layout(data_root)
        if 'dataset' not in cfg.get('train_dataloader', {}):
            _fail('the config has no train_dataloader.dataset')
        cfg.train_dataloader.dataset = point_dataset(
            cfg.train_dataloader.dataset, data_root, layout, 'train')
        val = cfg.get('val_dataloader')
        if val and not val_data_root and (
                _layout_of(val.dataset) == layout or layout == 'cityscapes'):
            val.dataset = point_dataset(val.dataset, data_root, layout,
                                        'val')
    if val_data_root:
        val = cfg.get('val_dataloader')
        if not val:
            _fail('--val-data-root given but the config has no '
                  'val_dataloader')
        val.dataset = point_dataset(val.dataset, val_data_root,
                                    detect_layout(val_data_root), 'val')
    if (data_root or val_data_root) and cfg.get('val_dataloader') and \
            cfg.get('test_dataloader'):
        cfg.test_dataloader.dataset = cfg.val_dataloader.dataset


def build_config(args):
    from dakpn_aug.engine.launch import (load_config, set_max_iters,
                                         set_seed, setup_device)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    set_data_roots(cfg, args.data_root, args.val_data_root)
    if args.max_iters is not None:
        set_max_iters(cfg, args.max_iters)
    set_seed(cfg, args.seed)
    cfg.resume = bool(args.resume)
    setup_device(cfg, args.launcher, 'MMDistributedDataParallel')
    return cfg


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
def _jsonable(x):
    return json.loads(json.dumps(x, default=lambda o: (
        o.tolist() if hasattr(o, 'tolist') else str(o))))


def export_encoder(runner, cfg, val_metrics, val_iter) -> Path:
    """Write ``work_dir/encoder.pth`` (weights-only loadable)."""
    import torch
    model = runner.model
    model = getattr(model, 'module', model)
    state = {k: v.detach().cpu().clone()
             for k, v in model.state_dict().items()}
    meta = dict(
        format='dakpn_aug.encoder/1',
        config=osp.basename(cfg.filename) if cfg.filename else None,
        iterations=int(runner.iter),
        model=_jsonable(cfg.model.to_dict()),
        encoder_input_size=list(cfg.model.get('data_preprocessor', {}).get(
            'size') or []),
    )
    ds_meta = getattr(model, 'dataset_meta', None) or {}
    if not ds_meta:
        try:
            ds_meta = runner.train_dataloader.dataset.metainfo
        except Exception:  # noqa: BLE001 - meta is best effort
            ds_meta = {}
    if ds_meta.get('classes'):
        meta['classes'] = [str(c) for c in ds_meta['classes']]
    if ds_meta.get('palette'):
        meta['palette'] = _jsonable(ds_meta['palette'])
    if val_metrics:
        metrics = dict(val_metrics)
        meta['val_metrics'] = metrics
        meta['val_iteration'] = val_iter
        if 'mIoU' in metrics:
            meta['mIoU'] = metrics['mIoU']  # percent, mmseg's IoUMetric
    path = Path(cfg.work_dir) / 'encoder.pth'
    write_atomic(path, lambda tmp: torch.save(
        dict(state_dict=state, meta=_jsonable(meta)), tmp))
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    import dakpn_aug.mmseg  # noqa: F401  (registers the datasets & co.)
    from dakpn_aug.engine.launch import run_training

    cfg = build_config(args)

    def export(runner, metrics, iteration):
        path = export_encoder(runner, cfg, metrics, iteration)
        miou = (f', mIoU {metrics["mIoU"]:.2f}'
                if metrics and 'mIoU' in metrics else '')
        runner.logger.info(f'encoder weights written to {path}')
        print(f'encoder: {path} ({runner.iter} iterations{miou})')

    run_training(cfg, args.launcher, 'train_segmentor', 'Segmenter training',
                 export)
    return 0


if __name__ == '__main__':
    sys.exit(main())
