#!/usr/bin/env python
"""Make a translator bundle from any mmengine checkpoint of a DA-KPN run.

Usage:
    python tools/export_bundle.py CONFIG CHECKPOINT [--out PATH] [--trust]

CONFIG is the run's config (the copy in its work dir is fine), CHECKPOINT an
``iter_N.pth`` written by the run. The bundle (tensors + JSON metadata,
loadable with ``torch.load(weights_only=True)``) goes to ``--out`` (default:
``dakpn_bundle_iter_N.pth`` beside the checkpoint).

mmengine checkpoints contain Python objects besides tensors (the message
hub's history), so they cannot be loaded with ``weights_only=True``. Pass
``--trust`` only for checkpoints your own run wrote: that loads the file
with full unpickling, which can execute code from a malicious file.
"""
from __future__ import annotations

import sys
from pathlib import Path


import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from . import argument_parser


def load_state_dict(path: Path, trust: bool) -> dict:
    import torch
    if not path.is_file():
        raise SystemExit(f'export_bundle: error: checkpoint not found: {path}')
    import zipfile
    if not zipfile.is_zipfile(path):
        # Never point at --trust for a file that is simply broken.
        raise SystemExit(f'export_bundle: error: {path} is not a torch '
                         'checkpoint (truncated, corrupt, or not written by '
                         'torch.save)')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001
        if 'Weights only load failed' not in str(e):
            raise SystemExit(f'export_bundle: error: {path} is corrupt or '
                             f'truncated ({type(e).__name__}: '
                             f'{str(e).splitlines()[0][:200]})') from None
        if not trust:
            raise SystemExit(
                f'export_bundle: error: {path} holds Python objects besides '
                'tensors (as every mmengine checkpoint does) and is not '
                'unpickled by default. If your own run wrote it, re-run with '
                f'--trust. ({type(e).__name__})') from None
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=False)
        except Exception as e:  # noqa: BLE001
            raise SystemExit(f'export_bundle: error: {path} is corrupt or '
                             f'truncated ({type(e).__name__})') from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not any(
            k.startswith('kpn.') for k in state):
        raise SystemExit(f'export_bundle: error: {path} is not a DA-KPN '
                         'training checkpoint (no kpn.* weights)')
    iters = ckpt.get('meta', {}).get('iter') if isinstance(ckpt, dict) else 0
    return state, iters


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('config', help='the run\'s DA-KPN training config')
    ap.add_argument('checkpoint', type=Path,
                    help='an iter_N.pth the run wrote')
    ap.add_argument('--out', type=Path, help='the bundle to write '
                    '(default: dakpn_bundle_iter_N.pth beside CHECKPOINT)')
    ap.add_argument('--trust', action='store_true',
                    help='fully unpickle the checkpoint (own runs only)')
    args = ap.parse_args(argv)

    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config, ConfigDict
    from mmseg.registry import MODELS

    state, iters = load_state_dict(args.checkpoint, args.trust)
    cfg = Config.fromfile(args.config)
    model_cfg = ConfigDict(cfg.model)
    model_cfg.encoder.checkpoint = None  # weights come from the checkpoint
    model = MODELS.build(model_cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(
            f'export_bundle: error: {args.checkpoint} does not match '
            f'{args.config}: missing {missing[:3]}, unexpected '
            f'{unexpected[:3]}')
    out = args.out or args.checkpoint.with_name(
        f'dakpn_bundle_{args.checkpoint.stem}.pth')
    model.to_translator().save(out, extra_meta=dict(
        iterations=iters, config=Path(args.config).name,
        source_checkpoint=args.checkpoint.name))
    print(f'bundle: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
