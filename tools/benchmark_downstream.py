#!/usr/bin/env python
"""Downstream benchmark on the demo data (paper tables 3 and 6, in small).

Usage:
    python tools/benchmark_downstream.py [--demo work_dirs/demo]
        [--seeds 0,1,2] [--iters 800] [--ablations] [--out DIR]

Needs a finished ``make demo`` (its data, encoder and DA-KPN bundle). Trains
the light FCN of ``mmseg_configs/downstream/demo/`` on the synthetic images
(source-only, + DA-KPN in the pipeline, + a photometric baseline) and on the
real train split (target-only), once per seed, and evaluates each on the
real val split. With ``--ablations`` it first trains three ablated DA-KPN
bundles (no blur / no noise / no affine) with the demo config and adds a
downstream run for each. Writes ``downstream.md`` (mIoU mean +- std, the
share of the source-only -> target-only gap closed), ``downstream.json``
and ``downstream.png`` (bar chart) into ``--out``.

A long job (about 5 minutes per training on 2 CPU cores): it is a benchmark,
not a test.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / 'mmseg_configs' / 'downstream' / 'demo'
VARIANTS = {
    'source-only': 'fcn_tiny_demo-source-only.py',
    'DA-KPN': 'fcn_tiny_demo-dakpn-pipeline.py',
    'photometric': 'fcn_tiny_demo-photometric.py',
    'target-only': 'fcn_tiny_demo-target-only.py',
}
ABLATIONS = ('blur', 'noise', 'affine')


def run(cmd, log: Path) -> None:
    with open(log, 'w') as f:
        res = subprocess.run([str(c) for c in cmd], stdout=f,
                             stderr=subprocess.STDOUT, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f'benchmark_downstream: failed, see {log}')


def train_segmenter(config: str, work: Path, seed: int, iters: int,
                    data: Path, bundle: Path) -> float:
    opts = [f'train_dataloader.dataset.data_root={data / "gta5"}',
            f'val_dataloader.dataset.data_root={data / "cityscapes"}',
            f'test_dataloader.dataset.data_root={data / "cityscapes"}']
    if 'target' in config:
        opts[0] = f'train_dataloader.dataset.data_root={data / "cityscapes"}'
    if 'dakpn' in config:
        opts.append(f'train_dataloader.dataset.pipeline.2.checkpoint={bundle}')
    work.mkdir(parents=True, exist_ok=True)
    run([sys.executable, ROOT / 'tools' / 'train_encoder.py', CFG / config,
         '--work-dir', work, '--seed', seed, '--max-iters', iters,
         '--cfg-options', *opts], work / 'run.log')
    import torch
    meta = torch.load(work / 'encoder.pth', weights_only=True)['meta']
    return float(meta['mIoU'])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--demo', type=Path, default=ROOT / 'work_dirs' / 'demo')
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--iters', type=int, default=800)
    ap.add_argument('--dakpn-iters', type=int, default=None,
                    help='iterations of the ablated DA-KPN trainings')
    ap.add_argument('--ablations', action='store_true')
    ap.add_argument('--out', type=Path,
                    default=ROOT / 'work_dirs' / 'downstream_benchmark')
    args = ap.parse_args(argv)
    data, bundle = args.demo / 'data', args.demo / 'dakpn' / 'dakpn_bundle.pth'
    enc = args.demo / 'encoder' / 'encoder.pth'
    for p in (data, bundle, enc):
        if not p.exists():
            raise SystemExit(f'benchmark_downstream: {p} missing: run '
                             '`make demo` first (or pass --demo)')
    seeds = [int(s) for s in args.seeds.split(',')]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    variants = dict(VARIANTS)
    bundles = {'DA-KPN': bundle}
    t0 = time.time()
    if args.ablations:
        for part in ABLATIONS:
            wd = out / f'dakpn_no_{part}'
            print(f'training DA-KPN without {part} -> {wd}', flush=True)
            cmd = [sys.executable, ROOT / 'tools' / 'train_dakpn.py',
                   ROOT / 'mmseg_configs' / 'demo' / 'dakpn_demo.py',
                   '--work-dir', wd, '--source-root', data / 'gta5',
                   '--target-root', data / 'cityscapes',
                   '--encoder-checkpoint', enc, '--cfg-options',
                   f'model.ablation.{part}=False']
            if args.dakpn_iters:
                cmd[-2:-2] = ['--max-iters', str(args.dakpn_iters)]
            run(cmd, out / f'dakpn_no_{part}.log')
            variants[f'DA-KPN -{part}'] = VARIANTS['DA-KPN']
            bundles[f'DA-KPN -{part}'] = wd / 'dakpn_bundle.pth'
    results = {}
    for name, config in variants.items():
        results[name] = []
        for seed in seeds:
            wd = out / name.replace(' ', '_') / f'seed{seed}'
            miou = train_segmenter(config, wd, seed, args.iters, data,
                                   bundles.get(name, bundle))
            results[name].append(miou)
            print(f'{name:18s} seed {seed}: mIoU {miou:.2f} '
                  f'({(time.time() - t0) / 60:.0f} min)', flush=True)

    def mean_std(v):
        return statistics.mean(v), (statistics.stdev(v) if len(v) > 1
                                    else 0.0)

    src, tgt = mean_std(results['source-only'])[0], mean_std(
        results['target-only'])[0]
    lines = ['| training data | mIoU (mean +- std) | gap closed |',
             '|---|---|---|']
    for name, v in results.items():
        m, s = mean_std(v)
        closed = (m - src) / (tgt - src) if tgt != src else float('nan')
        lines.append(f'| {name} | {m:.2f} +- {s:.2f} | {closed:.0%} |')
    md = (f'Downstream mIoU on the demo real val split, {len(seeds)} seeds, '
          f'{args.iters} iterations each.\n\n' + '\n'.join(lines) + '\n')
    (out / 'downstream.md').write_text(md)
    (out / 'downstream.json').write_text(json.dumps(dict(
        results=results, seeds=seeds, iters=args.iters), indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(1.6 * len(results) + 2, 3.5))
    names = list(results)
    ax.bar(names, [mean_std(results[n])[0] for n in names],
           yerr=[mean_std(results[n])[1] for n in names], capsize=4)
    ax.set_ylabel('mIoU (real val)')
    ax.set_title('Downstream segmentation on the demo data')
    plt.xticks(rotation=20, ha='right')
    fig.tight_layout()
    fig.savefig(out / 'downstream.png', dpi=120)
    print('\n' + md + f'\nwritten: {out}/downstream.md, .json, .png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
