#!/usr/bin/env python
"""Translate a whole synthetic dataset offline with a DA-KPN bundle.

Usage:
    python tools/translate_dataset.py BUNDLE SRC_DIR OUT_DIR
        [--device cpu|cuda] [--batch-size 4] [--workers 2]
        [--labels none|copy|link] [--no-label-guidance] [--shard I/N]
        [--launcher none|pytorch]

    # 4 GPUs (or N CPU processes), each takes its share of the files:
    torchrun --nproc_per_node=4 tools/translate_dataset.py BUNDLE SRC OUT \\
        --launcher pytorch --device cuda

Which files: in a GTA5-layout SRC_DIR the images under ``images/`` (labels in
``labels/``); in a Cityscapes layout those under ``leftImg8bit/`` (labels in
``gtFine/``); in a FaceSynthetics folder ``X.png`` (its labels: the
``X_seg.png`` beside it); otherwise every image below SRC_DIR. Relative paths
and file names are kept. Labels are never changed: ``--labels copy`` copies
them, ``--labels link`` symlinks them, ``none`` (default) leaves them out. They
do guide the translation (label guidance, ``DAKPNTranslator``: classes the
encoder cannot see at its low resolution take the image's mean colour change;
``--no-label-guidance`` turns it off); an image whose label map is unreadable
or of another size is translated from the image alone.

Images: uint8 and uint16 files keep their depth; float (e.g. 32-bit TIFF)
files must hold values in [0, 1] and come out as float in [0, 1] (the one
float rule of ``dakpn_aug/image.py``); anything else is reported and
skipped.

Safe to interrupt, nothing half-written, nothing mixed:

- every image is encoded in memory, written to a hidden temporary file in
  its destination folder, flushed to disk (a full disk or a read-only
  folder stops the run with one clear error, and the temporary file is
  removed), then renamed into place;
- ``OUT_DIR/.dakpn_translate/`` records the bundle's SHA-256 and, per
  finished image, its size (written before the rename). A rerun counts an
  image as done only if its file exists with the recorded size and was made
  by the same bundle; anything else (a truncated file, a file from before a
  crash) is translated again;
- a rerun with a different bundle into the same OUT_DIR is refused, naming
  both, unless ``--overwrite`` (then every image is translated again);
- OUT_DIR and SRC_DIR must not overlap either way (OUT inside SRC, or SRC
  inside OUT), so nothing is ever written under SRC_DIR.

Sharding: the sorted file list is split as ``files[I::N]``, so N processes
(``--shard I/N``, or ``--launcher pytorch`` which uses RANK/WORLD_SIZE)
cover every file exactly once.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from dakpn_aug.data.layouts import (IMAGE_SUFFIXES, LAYOUT_DIRS,
                                    detect_layout, is_label_file,
                                    layout_labels, train_id_map)
from dakpn_aug.errors import DAKPNInputError
from dakpn_aug.fileio import write_atomic
from dakpn_aug.image import batch_to_tensor, tensor_to_batch
from . import argument_parser, count_arg

STATE_DIR = '.dakpn_translate'


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
    if layout == 'facesynthetics':  # X_seg.png beside X.png
        labels = [p for p in images if is_label_file(p, layout)]
        images = [p for p in images if not is_label_file(p, layout)]
    return images, labels, layout


def write_bytes_synced(path: Path, data: bytes) -> None:
    """Write all of ``data`` and push it to the disk (a full disk raises
    here, not later when the file is read back)."""
    with open(path, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class Manifest:
    """What a run finished: ``OUT/.dakpn_translate/`` holds ``bundle.json``
    (the bundle's digest: weights and settings,
    ``DAKPNTranslator.bundle_digest``) and one ``done-RANK.jsonl`` per
    process with a line per finished image (relative path, bytes, bundle
    digest)."""

    def __init__(self, out: Path, rank: int):
        self.dir = out / STATE_DIR
        self.rank = rank

    def recorded_bundle(self):
        f = self.dir / 'bundle.json'
        return json.loads(f.read_text()) if f.is_file() else None

    def start(self, bundle: Path, digest: str, overwrite: bool) -> None:
        """Refuse another bundle's OUT unless ``overwrite``."""
        old = self.recorded_bundle()
        if old is not None and old.get('digest') != digest and \
                not overwrite:
            def tag(d):  # the digest's head and its settings
                d = str(d)
                return d[:12] + '...' + ''.join(
                    '+' + t for t in d.split('+')[1:])

            fail(f'{self.dir.parent} holds translations made by another '
                 f'bundle or setting ({old["path"]}, digest '
                 f'{tag(old.get("digest"))}) than {bundle} (digest '
                 f'{tag(digest)}); mixing them is '
                 'refused. Use another OUT_DIR, or --overwrite to translate '
                 'every image again with this bundle')
        self.dir.mkdir(parents=True, exist_ok=True)
        if old is None or old.get('digest') != digest:
            record = json.dumps(dict(path=str(bundle), digest=digest))
            write_atomic(self.dir / 'bundle.json',
                         lambda p: write_bytes_synced(p, record.encode()))

    def done(self, digest: str) -> Dict[str, int]:
        """Relative path -> recorded size, for this bundle's entries."""
        out: Dict[str, int] = {}
        for f in sorted(self.dir.glob('done-*.jsonl')):
            for line in f.read_text().splitlines():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if e.get('bundle') == digest:
                    out[e['file']] = int(e['bytes'])
        return out

    def record(self, rel: Path, size: int, digest: str) -> None:
        line = json.dumps(dict(file=str(rel), bytes=size, bundle=digest))
        with open(self.dir / f'done-{self.rank}.jsonl', 'a') as f:
            f.write(line + '\n')
            f.flush()
            os.fsync(f.fileno())


def write_image(path: Path, img: np.ndarray, manifest: Manifest, rel: Path,
                digest: str) -> None:
    """Encode, write, sync, record, rename: a visible file is complete and
    recorded."""
    ok, buf = cv2.imencode(path.suffix or '.png', img)
    if not ok:
        raise OSError(f'could not encode {path} as {path.suffix}')
    data = buf.tobytes()

    def write(tmp):
        write_bytes_synced(tmp, data)
        manifest.record(rel, len(data), digest)

    write_atomic(path, write)


class _Images:
    """Reads (index, BGR image, train-id label map or None) triples, in
    DataLoader workers when asked."""

    def __init__(self, src: Path, rels: List[Path],
                 labels: Optional[Dict[Path, Path]] = None, to_train_ids=None):
        self.src, self.rels = src, rels
        self.labels, self.to_train_ids = labels or {}, to_train_ids

    def __len__(self):
        return len(self.rels)

    def __getitem__(self, i):
        path = self.src / self.rels[i]
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if bgr is None:
            return i, None, None
        lbl = self.labels.get(self.rels[i])
        if lbl is not None:
            lbl = cv2.imread(str(lbl), cv2.IMREAD_UNCHANGED)
            if lbl is not None and lbl.ndim == 2 and lbl.dtype == np.uint8 \
                    and lbl.shape == bgr.shape[:2]:
                lbl = self.to_train_ids(lbl)
            else:  # unreadable or mismatched: translate without it
                lbl = None
        return i, bgr, lbl


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('bundle', type=Path, help='a DA-KPN bundle (.pth)')
    ap.add_argument('src', type=Path, help='the synthetic dataset folder '
                    '(SRC_DIR above: its layout is recognised)')
    ap.add_argument('out', type=Path, help='where the translations go '
                    '(OUT_DIR: same relative paths; not inside SRC_DIR)')
    ap.add_argument('--device', default='cpu', help='cpu, cuda, cuda:N')
    ap.add_argument('--encoder-dtype', default=None,
                    choices=('float32', 'bfloat16', 'float16'),
                    help='run the encoder under autocast in this dtype '
                    '(bfloat16: a faster encoder on CPUs with AVX512-BF16 '
                    'and on GPUs; README "Speed")')
    ap.add_argument('--batch-size', type=count_arg(1), default=4)
    ap.add_argument('--workers', type=count_arg(0), default=2,
                    help='image-reading worker processes')
    ap.add_argument('--labels', choices=['none', 'copy', 'link'],
                    default='none', help='also copy or symlink the label '
                    'maps into OUT_DIR (default: none)')
    ap.add_argument('--no-label-guidance', dest='label_guidance',
                    action='store_false',
                    help='translate from the images alone (default: a '
                    'labelled layout\'s label maps guide the translation: '
                    'classes the encoder cannot see at its low resolution '
                    'take the image\'s mean colour change)')
    ap.add_argument('--shard', default=None, help='I/N: this process\'s share')
    ap.add_argument('--launcher', choices=['none', 'pytorch'],
                    default='none', help='pytorch: the shard from torchrun\'s '
                    'RANK / WORLD_SIZE')
    ap.add_argument('--overwrite', action='store_true',
                    help='OUT_DIR holds another bundle\'s translations: '
                    'translate everything again with this one')
    args = ap.parse_args(argv)

    src, out = args.src.resolve(), args.out.resolve()
    if not src.is_dir():
        fail(f'source folder does not exist: {args.src}')
    if out == src or out.is_relative_to(src):
        fail(f'OUT_DIR {args.out} is SRC_DIR or inside it; translations '
             'must go elsewhere (nothing is ever written under SRC_DIR)')
    if src.is_relative_to(out):
        fail(f'SRC_DIR {args.src} lies inside OUT_DIR {args.out}: the '
             'output would be written among (and re-read as) the source; '
             'choose an OUT_DIR outside SRC_DIR')
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
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        fail(f'--device {args.device}: CUDA is not available here (use '
             '--device cpu)')
    try:
        translator = DAKPNTranslator.from_checkpoint(
            args.bundle, device=args.device,
            encoder_dtype=args.encoder_dtype)
    except DAKPNCheckpointError as e:
        fail(str(e))
    except (RuntimeError, ValueError) as e:
        fail(f'--device {args.device}: {e}')
    digest = DAKPNTranslator.bundle_digest(args.bundle)
    if args.encoder_dtype not in (None, 'float32'):
        # Another encoder precision gives other images: a resumed run must
        # not mix them.
        digest += f'+encoder-{args.encoder_dtype}'

    images, labels, layout = find_files(src)
    if not images:
        fail(f'no images found under {args.src}')
    guide = {}
    if args.label_guidance and labels and train_id_map(layout) is not None:
        try:
            matched = layout_labels(src, images, layout)
        except DAKPNInputError as e:
            fail(f'{e} (or pass --no-label-guidance)')
        guide = dict(zip(images, matched))
        digest += '+labels'  # guided images differ: never mixed on resume
    manifest = Manifest(out, rank)
    try:
        manifest.start(args.bundle, digest, args.overwrite)
    except OSError as e:
        fail(f'cannot write into OUT_DIR {args.out}: {e}')
    images, labels = images[rank::world], labels[rank::world]
    finished = manifest.done(digest)

    def is_done(rel: Path) -> bool:
        f = out / rel
        return f.is_file() and finished.get(str(rel)) == f.stat().st_size

    todo = [r for r in images if not is_done(r)]
    skipped = len(images) - len(todo)
    tag = f'[shard {rank}/{world}] ' if world > 1 else ''
    print(f'{tag}{layout} layout: {len(images)} images in this share, '
          f'{skipped} already done, {len(todo)} to translate -> {out}',
          flush=True)

    failed: List[Tuple[str, str]] = []
    t0 = time.time()
    loader = torch.utils.data.DataLoader(
        _Images(src, todo, guide, train_id_map(layout)), batch_size=None,
        shuffle=False,
        num_workers=args.workers if len(todo) > 1 else 0)
    pending: List[Tuple[Path, np.ndarray, Optional[np.ndarray]]] = []

    def flush():
        if not pending:
            return
        batch = np.stack([img for _, img, _ in pending])  # same size, dtype
        x, dtype = batch_to_tensor(np.ascontiguousarray(batch[..., ::-1]))
        lab = None
        if all(lbl is not None for _, _, lbl in pending):
            lab = torch.from_numpy(np.stack([lbl for _, _, lbl in pending]
                                            ).astype(np.int64))
        y = translator.translate_batch(x.to(translator.device), labels=lab)
        y = np.ascontiguousarray(tensor_to_batch(y, dtype)[..., ::-1])
        for (rel, _, _), img in zip(pending, y):
            try:
                write_image(out / rel, img, manifest, rel, digest)
            except OSError as e:
                fail(f'cannot write {out / rel}: {e} (nothing half-written '
                     'is left; rerun to continue)')
        pending.clear()

    def usable(rel: Path, img) -> bool:
        if img is None or img.ndim != 3 or img.shape[2] != 3:
            failed.append((str(rel), 'unreadable or not a 3-channel image'))
            return False
        try:
            batch_to_tensor(img[None])  # the one image rule (dtype, range)
        except DAKPNInputError as e:
            failed.append((str(rel), str(e)))
            return False
        return True

    with tqdm(total=len(todo), unit='img', desc=f'{tag}translating',
              dynamic_ncols=True, disable=None) as bar:
        for i, img, lbl in loader:
            rel = todo[int(i)]
            if isinstance(img, torch.Tensor):  # the loader's conversion
                img = img.numpy()
            if isinstance(lbl, torch.Tensor):
                lbl = lbl.numpy()
            if not usable(rel, img):
                bar.update(1)
                continue
            if pending and (img.shape != pending[0][1].shape
                            or img.dtype != pending[0][1].dtype):
                flush()
            pending.append((rel, img, lbl))
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
            try:
                if args.labels == 'copy':
                    write_atomic(dst,
                                 lambda p, s=src / rel: shutil.copy2(s, p))
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dst.with_name(f'.{dst.name}.{os.getpid()}.lnk')
                    os.symlink(src / rel, tmp)
                    os.replace(tmp, dst)
            except OSError as e:
                fail(f'cannot write label {dst}: {e}')
            n_lbl += 1
    secs = time.time() - t0
    done = len(todo) - len(failed)
    print(f'{tag}done: {done} translated, {skipped} skipped (already done), '
          f'{len(failed)} failed, {n_lbl} labels ({args.labels}) in '
          f'{secs:.1f} s '
          f'({done / max(secs, 1e-9):.2f} img/s)', flush=True)
    for rel, why in failed:
        print(f'{tag}  skipped {src / rel}: {why}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
