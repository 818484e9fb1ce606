#!/usr/bin/env python
"""Translate a whole synthetic dataset offline with a DA-KPN bundle.

Usage:
    python tools/translate_dataset.py BUNDLE SRC_DIR OUT_DIR
        [--device cpu|cuda] [--batch-size 4] [--workers 2]
        [--labels none|copy|link] [--shard I/N] [--launcher none|pytorch]

    # 4 GPUs (or N CPU processes), each takes its share of the files:
    torchrun --nproc_per_node=4 tools/translate_dataset.py BUNDLE SRC OUT \\
        --launcher pytorch --device cuda

Which files: in a GTA5-layout SRC_DIR the images under ``images/`` (labels
in ``labels/``); in a Cityscapes layout those under ``leftImg8bit/`` (labels
in ``gtFine/``); otherwise every image below SRC_DIR. Relative paths and file
names are kept. Labels are never changed: ``--labels copy`` copies them,
``--labels link`` symlinks them, ``none`` (default) leaves them out.

Safe to interrupt: every file is written to a hidden temporary name in its
destination folder and renamed into place, so no half-written file is ever
visible; a rerun skips files that exist. OUT_DIR must not be SRC_DIR or lie
inside it, and nothing is ever written under SRC_DIR.

Sharding: the sorted file list is split as ``files[I::N]``, so N processes
(``--shard I/N``, or ``--launcher pytorch`` which uses RANK/WORLD_SIZE)
cover every file exactly once.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dakpn_aug.data.sources import (IMAGE_SUFFIXES,  # noqa: E402
                                    detect_layout)

LAYOUT_DIRS = {  # layout -> (image folder, label folder)
    'gta5': ('images', 'labels'),
    'cityscapes': ('leftImg8bit', 'gtFine'),
}


def fail(msg: str) -> None:
    raise SystemExit(f'translate_dataset: error: {msg}')


def parse_shard(text: str) -> Tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split('/'))
    except ValueError:
        fail(f'--shard must look like I/N, got {text!r}')
    if not 0 <= i < n:
        fail(f'--shard {text}: need 0 <= I < N')
    return i, n


def find_files(src: Path) -> Tuple[List[Path], List[Path], str]:
    """(images, labels) relative to SRC_DIR, sorted, and the layout."""
    layout = detect_layout(src)
    img_dir, lbl_dir = LAYOUT_DIRS.get(layout, ('', None))

    def walk(sub):
        base = src / sub if sub else src
        return sorted(p.relative_to(src) for p in base.rglob('*')
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                      and not p.name.startswith('.'))

    images = walk(img_dir)
    labels = walk(lbl_dir) if lbl_dir and (src / lbl_dir).is_dir() else []
    return images, labels, layout


def write_atomic(path: Path, write) -> None:
    """Write via a hidden temp file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.{os.getpid()}.tmp{path.suffix}')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def imwrite(path: Path, bgr: np.ndarray) -> None:
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f'could not write {path}')


class _Images:
    """Reads (index, RGB image) pairs, in DataLoader workers when asked."""

    def __init__(self, src: Path, rels: List[Path]):
        self.src, self.rels = src, rels

    def __len__(self):
        return len(self.rels)

    def __getitem__(self, i):
        path = self.src / self.rels[i]
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if bgr is None:
            return i, None
        return i, bgr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('bundle', type=Path)
    ap.add_argument('src', type=Path)
    ap.add_argument('out', type=Path)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--workers', type=int, default=2,
                    help='image-reading worker processes')
    ap.add_argument('--labels', choices=['none', 'copy', 'link'],
                    default='none')
    ap.add_argument('--shard', default=None, help='I/N: this process\'s share')
    ap.add_argument('--launcher', choices=['none', 'pytorch'],
                    default='none')
    args = ap.parse_args(argv)

    src, out = args.src.resolve(), args.out.resolve()
    if not src.is_dir():
        fail(f'source folder does not exist: {args.src}')
    if out == src or out.is_relative_to(src):
        fail(f'OUT_DIR {args.out} is SRC_DIR or inside it; translations '
             'must go elsewhere (nothing is ever written under SRC_DIR)')
    if args.launcher == 'pytorch':
        rank = int(os.environ.get('RANK', 0))
        world = int(os.environ.get('WORLD_SIZE', 1))
        if args.device.startswith('cuda'):
            args.device = f'cuda:{os.environ.get("LOCAL_RANK", 0)}'
    else:
        rank, world = parse_shard(args.shard) if args.shard else (0, 1)

    import torch
    from tqdm import tqdm

    from dakpn_aug import DAKPNCheckpointError, DAKPNTranslator
    try:
        translator = DAKPNTranslator.from_checkpoint(args.bundle,
                                                     device=args.device)
    except DAKPNCheckpointError as e:
        fail(str(e))

    images, labels, layout = find_files(src)
    if not images:
        fail(f'no images found under {args.src}')
    images, labels = images[rank::world], labels[rank::world]
    todo = [r for r in images if not (out / r).exists()]
    skipped = len(images) - len(todo)
    tag = f'[shard {rank}/{world}] ' if world > 1 else ''
    print(f'{tag}{layout} layout: {len(images)} images in this share, '
          f'{skipped} already done, {len(todo)} to translate -> {out}',
          flush=True)

    failed: List[str] = []
    t0 = time.time()
    loader = torch.utils.data.DataLoader(
        _Images(src, todo), batch_size=None, shuffle=False,
        num_workers=args.workers if len(todo) > 1 else 0)
    pending: List[Tuple[Path, np.ndarray]] = []

    def flush():
        if not pending:
            return
        batch = np.stack([img for _, img in pending])  # same size & dtype
        scale = 65535.0 if batch.dtype == np.uint16 else 255.0
        x = torch.from_numpy(batch[..., ::-1].astype(np.float32) / scale)
        y = translator.translate_batch(
            x.permute(0, 3, 1, 2).contiguous().to(translator.device))
        y = y.permute(0, 2, 3, 1).cpu().numpy()[..., ::-1] * scale
        y = np.clip(np.rint(y), 0, scale).astype(batch.dtype)
        for (rel, _), img in zip(pending, y):
            write_atomic(out / rel, lambda p, im=img: imwrite(p, im))
        pending.clear()

    with tqdm(total=len(todo), unit='img', desc=f'{tag}translating',
              dynamic_ncols=True, disable=None) as bar:
        for i, img in loader:
            rel = todo[int(i)]
            if img is None or img.ndim != 3 or img.shape[2] != 3:
                failed.append(str(rel))
                bar.update(1)
                continue
            if pending and (img.shape != pending[0][1].shape
                            or img.dtype != pending[0][1].dtype):
                flush()
            pending.append((rel, img))
            if len(pending) >= args.batch_size:
                flush()
            bar.update(1)
        flush()

    n_lbl = 0
    if args.labels != 'none':
        for rel in labels:
            dst = out / rel
            if dst.exists() or dst.is_symlink():
                continue
            if args.labels == 'copy':
                write_atomic(dst, lambda p, s=src / rel: shutil.copy2(s, p))
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f'.{dst.name}.{os.getpid()}.lnk')
                os.symlink(src / rel, tmp)
                os.replace(tmp, dst)
            n_lbl += 1
    secs = time.time() - t0
    done = len(todo) - len(failed)
    print(f'{tag}done: {done} translated, {skipped} skipped (already done), '
          f'{len(failed)} failed, {n_lbl} labels ({args.labels}) in {secs:.1f} s '
          f'({done / max(secs, 1e-9):.2f} img/s)', flush=True)
    for rel in failed:
        print(f'{tag}  unreadable or not RGB, skipped: {src / rel}',
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
