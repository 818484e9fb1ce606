#!/usr/bin/env python
"""What DA-KPN costs inside downstream mmseg training.

Usage:
    python tools/benchmark_overhead.py BUNDLE [--model fcn_r50-d8|fcn_tiny]
        [--size 512x512] [--batch 2] [--repeats 5] [--device cpu|cuda]

Times one mmseg training step (data preprocessor + forward + backward +
SGD step) of an FCN on synthetic batches:

- ``plain``: ``SegDataPreProcessor`` (no translation);
- ``gpu batch step``: ``DAKPNSegDataPreProcessor`` (translation on the
  model's device, inside the step);
- ``pipeline transform``: ``DAKPNTranslate`` per image on the CPU, as
  dataloader workers run it (reported per batch; with enough workers it
  overlaps the step instead of adding to it).

Both DA-KPN settings get the batch's label maps (label guidance, as in
training): the encoder's own classes with 2-pixel stripes of another class
every 40 columns, the thin objects it misses.

Prints the median milliseconds and the overhead against ``plain`` (goal on
a GPU: <= 5%). Runs on CUDA where present, else on the CPU (``--device``
chooses; ``cuda`` without CUDA is an error).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import dakpn_aug  # noqa: E402,F401
from . import argument_parser, count_arg, size_arg  # noqa: E402

PRE = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
           bgr_to_rgb=True, pad_val=0, seg_pad_val=255)


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('bundle', help='a DA-KPN bundle (.pth)')
    ap.add_argument('--model', default='fcn_r50-d8')
    ap.add_argument('--size', type=size_arg, default='512x512',
                    help='HxW of the training batch')
    ap.add_argument('--batch', type=count_arg(1), default=2)
    ap.add_argument('--repeats', type=count_arg(1), default=5)
    ap.add_argument('--device', choices=('cuda', 'cpu'), default=None,
                    help='default: cuda where available, else cpu')
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from mmengine.config import ConfigDict
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS, TRANSFORMS
    from mmseg.structures import SegDataSample

    import dakpn_aug.mmseg  # noqa: F401
    from dakpn_aug import DAKPNTranslator
    from dakpn_aug.models import load_encoder_config
    from .benchmark_speed import guidance_labels

    init_default_scope('mmseg')
    if args.device == 'cuda' and not torch.cuda.is_available():
        ap.error('--device cuda: CUDA is not available')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    h, w = args.size
    rng = np.random.default_rng(0)
    translator = DAKPNTranslator.from_checkpoint(args.bundle, device=device)

    def labels_of(image):
        # What label guidance meets in training: labels that mostly agree
        # with the encoder, plus thin stripes it misses (random labels
        # would put the mean colour on nearly every pixel).
        return guidance_labels(translator, image[None].to(
            device, torch.float32) / 255.0).cpu()

    def batch():
        inputs, samples = [], []
        for _ in range(args.batch):
            inputs.append(torch.from_numpy(rng.integers(
                0, 256, (3, h, w), dtype=np.uint8)))
            s = SegDataSample()
            s.gt_sem_seg = PixelData(data=labels_of(inputs[-1]).long())
            s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w),
                                pad_shape=(h, w)))
            samples.append(s)
        return dict(inputs=inputs, data_samples=samples)

    def build(pre):
        cfg = load_encoder_config(args.model)
        cfg['data_preprocessor'] = dict(pre, size=(h, w))
        model = MODELS.build(ConfigDict(cfg)).to(device)
        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
        return model, optim

    def sync():
        if device == 'cuda':
            torch.cuda.synchronize()

    def time_steps(model, optim):
        times = []
        for i in range(args.repeats + 2):
            data = batch()
            sync()
            t0 = time.perf_counter()
            model.train_step(data, optim)
            sync()
            if i >= 2:
                times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    plain = time_steps(*build(dict(type='SegDataPreProcessor', **PRE)))
    gpu = time_steps(*build(dict(type='DAKPNSegDataPreProcessor',
                                 checkpoint=args.bundle, **PRE)))
    transform = TRANSFORMS.build(dict(type='DAKPNTranslate',
                                      checkpoint=args.bundle))
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    labels = labels_of(torch.from_numpy(img).permute(2, 0, 1))[0].numpy()
    transform(dict(img=img.copy(), gt_seg_map=labels.copy()))
    per_image = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        transform(dict(img=img.copy(), gt_seg_map=labels.copy()))
        per_image.append((time.perf_counter() - t0) * 1000)
    pipe = statistics.median(per_image) * args.batch

    name = torch.cuda.get_device_name() if device == 'cuda' else \
        f'CPU ({os.cpu_count()} cores)'
    print(f'# DA-KPN overhead in one mmseg training step\n\n- device: {name}'
          f'; model {args.model}; batch {args.batch} x {h}x{w}; median of '
          f'{args.repeats} steps after 2 warm-ups\n')
    print('| setting | ms per step | overhead vs plain |\n|---|---:|---:|')
    print(f'| plain SegDataPreProcessor | {plain:.1f} | |')
    print(f'| DAKPNSegDataPreProcessor (on {device}) | {gpu:.1f} | '
          f'{100 * (gpu - plain) / plain:+.1f}% |')
    print(f'| DAKPNTranslate in the pipeline (CPU, per batch, serial) | '
          f'{pipe:.1f} extra in the workers | {100 * pipe / plain:+.1f}% '
          'if not overlapped |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
