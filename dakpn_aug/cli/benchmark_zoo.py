#!/usr/bin/env python
"""The camera zoo: one DA-KPN recipe judged on cameras it was not tuned on,
beside the training-free albumentations peers.

Usage:
    python tools/benchmark_zoo.py [--out work_dirs/zoo]
        [--cameras demo,mild,warm,cold,hazy] [--seeds 0,1,2]
        [--methods dakpn,fda,histogram-matching,pixel-distribution]
        [--config mmseg_configs/demo/dakpn_demo.py] [--encoder PATH]
        [--max-iters N] [--downstream [--downstream-jobs 2]]

For every camera of the demo generator's zoo (``dakpn_aug/data/cameras.py``;
all cameras see the same synthetic source images):

1. the demo data with that camera's real domain (``OUT/data/CAMERA``);
2. one semantic encoder for all cameras, trained on the labelled synthetic
   images with the demo encoder config (``--encoder-config``; or a trained
   one, ``--encoder``);
3. DA-KPN trained with the one demo config, unchanged, once per seed
   (ablation rows: other configs, or the ``dakpn`` config through another
   encoder, ``ENCODER_ROWS``);
4. every source image translated by each DA-KPN bundle and by each peer
   (``fda``, ``histogram-matching``, ``pixel-distribution``; references:
   the real train split; seeded), then measured against the real val
   split: the whole-image statistics gap closed and the per-class realism
   report (``dakpn_aug/domain_stats.py``).

With ``--downstream`` it also runs ``tools/benchmark_downstream.py`` on
every camera (240 + 240 + 96 generated images through that camera; rows
source-only, target-only, photometric, dakpn, and the three peers; 3
seeds; DA-KPN seed k uses that camera's translator of seed k): about 85
minutes per camera on 2 CPU cores, resumable.

Writes ``OUT/zoo.md`` (tables, mean +- std over seeds), ``OUT/zoo.json``
(every number), ``OUT/zoo.png`` (one row per camera: source, each method,
a real image) and ``OUT/swatches_CAMERA.png`` (per-class mean colours of
DA-KPN seed 0). Rerunning with the same ``OUT`` skips what is finished
(data, encoder, trainings, measurements), so a killed run resumes.

Time on 2 CPU cores: 3-5 minutes per DA-KPN training plus 2 for the
encoder and under a minute of measuring per camera: 54-97 minutes measured
for the default 5 cameras x 3 seeds (the VM's speed varies by the hour).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dakpn_aug.data.cameras import CAMERA_ZOO
from dakpn_aug.data.demo import make_demo_data
from dakpn_aug.data.layouts import list_images
from dakpn_aug.data.cityscapes_labels import label_ids_to_train_ids
from dakpn_aug.data.readers import read_label, read_rgb
from dakpn_aug.domain_stats import (CLASS_GAPS, NOISE_MULTIPLE, STATS,
                                    class_name, class_swatches, domain_gap,
                                    format_pct)
from dakpn_aug.peers import PEERS, make_peer
from dakpn_aug.visualize import caption, grid, write_png
from . import argument_parser, subcommand
from ..configs import configs_dir

ENCODER_CONFIG = configs_dir() / 'demo' / 'encoder_demo.py'
#: DA-KPN recipes by method name: the demo recipe, its ablation rows and
#: the switches under trial.
RECIPES = {
    'dakpn': configs_dir() / 'demo' / 'dakpn_demo.py',
    'dakpn-paper': configs_dir() / 'demo' / 'dakpn_demo_paper.py',
    'dakpn-no-gan': configs_dir() / 'demo' / 'dakpn_demo_no-gan.py',
    'dakpn-no-noise-stat':
        configs_dir() / 'demo' / 'dakpn_demo_no-noise-stat.py',
}
#: Rows that translate with the "dakpn" row's bundles under another
#: inference setting (``DAKPNTranslator.from_checkpoint`` arguments): no
#: training of their own.
INFERENCE_ROWS = {
    'dakpn-no-label-guidance': dict(label_guidance=False),
}
#: Rows that train the "dakpn" row's recipe through another encoder: the
#: encoder's ablations (each encoder trained once, for all cameras).
ENCODER_ROWS = {
    'dakpn-no-cast-encoder':
        configs_dir() / 'demo' / 'encoder_demo_no-cast.py',
}
METHODS = tuple(RECIPES) + tuple(INFERENCE_ROWS) + tuple(ENCODER_ROWS) + \
    PEERS
DEFAULT_METHODS = ('dakpn', ) + PEERS


def log(msg: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run(cmd, logfile: Path) -> None:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, 'w') as f:
        res = subprocess.run([str(c) for c in cmd], stdout=f,
                             stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise SystemExit(f'benchmark_zoo: step failed, see {logfile}')


def csv(text: str, allowed=None) -> list:
    items = [t.strip() for t in text.split(',') if t.strip()]
    if allowed is not None:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(
                f'unknown {bad}; choose from {sorted(allowed)}')
    return items


def seeds_arg(text: str) -> list:
    try:
        return [int(t) for t in csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f'seeds must be integers: {text}')


def prepare_data(out: Path, camera: str) -> Path:
    root = out / 'data' / camera
    summary = root / 'demo_data.json'
    if summary.is_file() and \
            json.loads(summary.read_text()).get('camera') == camera:
        return root
    log(f'data: camera {camera} -> {root}')
    make_demo_data(root, seed=0, camera=camera)
    return root


def prepare_encoder(out: Path, source_root: Path, given,
                    config: Path = ENCODER_CONFIG) -> Path:
    if given is not None:
        if not Path(given).is_file():
            raise SystemExit(f'benchmark_zoo: --encoder {given} does not '
                             'exist')
        return Path(given)
    # One folder per encoder config: a run with another --encoder-config in
    # the same OUT does not resume from the wrong encoder.
    name = 'encoder' if config == ENCODER_CONFIG else config.stem
    enc = out / name / 'encoder.pth'
    if not enc.is_file():
        log(f'encoder: {config.name} on the labelled synthetic images '
            '(~3 min)')
        run([*subcommand('train-segmentor'),
             config, '--work-dir', enc.parent, '--data-root',
             source_root], out / 'logs' / f'{name}.log')
    return enc


def train_dakpn(out: Path, camera: str, method: str, seed: int, data: Path,
                enc: Path, config: Path, max_iters) -> Path:
    work = out / 'runs' / camera / f'{method}_seed{seed}'
    bundle = work / 'dakpn_bundle.pth'
    if bundle.is_file():
        return bundle
    t0 = time.time()
    log(f'{method}: camera {camera}, seed {seed} (~5 min)')
    cmd = [*subcommand('train-dakpn'), config,
           '--work-dir', work, '--source-root', data / 'gta5',
           '--target-root', data / 'cityscapes', '--encoder-checkpoint', enc,
           '--seed', seed]
    if max_iters:
        cmd += ['--max-iters', max_iters]
    run(cmd, out / 'logs' / f'{method}_{camera}_seed{seed}.log')
    log(f'      done in {(time.time() - t0) / 60:.1f} min')
    return bundle


def measure(out: Path, camera: str, method: str, seed: int, data: Path,
            bundle) -> dict:
    """Translate every source image with one method and seed, then the
    whole-image and per-class reports against the real val split."""
    res_file = out / 'results' / camera / f'{method}_seed{seed}.json'
    if res_file.is_file():
        return json.loads(res_file.read_text())
    translated_by_dakpn = method not in PEERS
    if translated_by_dakpn:
        from dakpn_aug import DAKPNTranslator
        fn = DAKPNTranslator.from_checkpoint(
            bundle, **INFERENCE_ROWS.get(method, {}))
    else:
        refs = [read_rgb(p) for p in list_images(data / 'cityscapes',
                                                 'cityscapes', 'train')]
        fn = make_peer(method, refs, seed=seed)
    folder = out / 'translated' / camera / f'{method}_seed{seed}'
    folder.mkdir(parents=True, exist_ok=True)
    for p in list_images(data / 'gta5', 'gta5'):
        if translated_by_dakpn:  # its labels guide it (DAKPNTranslator)
            labels = label_ids_to_train_ids(read_label(
                data / 'gta5' / 'labels' / p.name))
            write_png(folder / p.name, fn(read_rgb(p), labels=labels))
        else:
            write_png(folder / p.name, fn(read_rgb(p)))
    res = domain_gap(data / 'gta5' / 'images', folder,
                     data / 'cityscapes' / 'leftImg8bit' / 'val',
                     source_labels=data / 'gta5' / 'labels',
                     real_labels=data / 'cityscapes' / 'gtFine' / 'val')
    res_file.parent.mkdir(parents=True, exist_ok=True)
    res_file.write_text(json.dumps(res, indent=2))
    return res


DOWNSTREAM_METHODS = ('source-only', 'target-only', 'photometric', 'dakpn',
                      'fda', 'histogram-matching', 'pixel-distribution')


def downstream(out: Path, camera: str, seeds: list, bundles: list,
               iters: int, counts=(240, 240, 96),
               methods=DOWNSTREAM_METHODS, jobs: int = 1) -> dict:
    """The downstream benchmark on this camera (a larger data set of the
    same generator and camera, tools/benchmark_downstream.py with the
    camera's DA-KPN bundles, one per seed): method -> mIoU per seed."""
    root = out / 'downstream' / camera
    data = root / 'data'
    summary = data / 'demo_data.json'
    if not (summary.is_file() and
            json.loads(summary.read_text()).get('camera') == camera):
        log(f'downstream data: camera {camera} -> {data}')
        make_demo_data(data, seed=0, camera=camera, num_source=counts[0],
                       num_real_train=counts[1], num_real_val=counts[2])
    log(f'downstream: camera {camera} ({len(methods)} methods x '
        f'{len(seeds)} seeds, ~4 min each; resumable)')
    run([*subcommand('benchmark-downstream'),
         '--data', data, '--bundle', ','.join(str(b) for b in bundles),
         '--methods', ','.join(methods), '--seeds',
         ','.join(map(str, seeds)), '--iters', iters, '--out', root,
         '--jobs', jobs, '--no-fcn-score'],  # the zoo reports mIoU only
        out / 'logs' / f'downstream_{camera}.log')
    return json.loads((root / 'downstream.json').read_text())['results']


def downstream_md(results: dict, iters: int, counts: list) -> str:
    methods = [m for m in DOWNSTREAM_METHODS
               if any(m in res for res in results.values())]
    lines = ['## Downstream', '', 'mIoU of the light FCN on the camera\'s '
             f'real val split ({counts[2]} images), trained {iters} '
             f'iterations on {counts[0]} synthetic or {counts[1]} real '
             'images (mean +- std over seeds; DA-KPN seed k '
             'uses the translator of seed k). Gap: share of the source-only '
             '-> target-only gap closed.', '',
             '| camera | ' + ' | '.join(methods) + ' |',
             '|---|' + '---|' * len(methods)]
    for camera, res in results.items():
        src = statistics.mean(res['source-only'])
        tgt = statistics.mean(res['target-only'])
        cells = []
        for m in methods:
            v = res.get(m)
            if not v:
                cells.append('n/a')
                continue
            mean = statistics.mean(v)
            std = statistics.stdev(v) if len(v) > 1 else 0.0
            gap = (mean - src) / (tgt - src) if tgt != src else float('nan')
            cells.append(f'{mean:.1f} +- {std:.1f} ({gap:.0%})')
        lines.append(f'| {camera} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'DA-KPN against each other row: "beyond seed spread" when '
              'the mean +- std intervals do not overlap.', '']
    for camera, res in results.items():
        if not res.get('dakpn'):
            continue
        verdicts = [f'{m} {versus(res["dakpn"], res[m])}' for m in methods
                    if m not in ('dakpn', 'target-only') and res.get(m)]
        lines.append(f'- {camera}: ' + '; '.join(verdicts))
    return '\n'.join(lines) + '\n'


def versus(ours: list, theirs: list) -> str:
    """How one row's mIoU per seed compares with another's: ahead or
    behind, beyond the seed spread (mean +- std intervals apart) or
    within it."""
    def interval(v):
        m = statistics.mean(v)
        s = statistics.stdev(v) if len(v) > 1 else 0.0
        return m - s, m, m + s
    lo, mean, hi = interval(ours)
    t_lo, t_mean, t_hi = interval(theirs)
    if lo > t_hi:
        return f'ahead beyond seed spread (+{mean - t_mean:.1f})'
    if hi < t_lo:
        return f'behind beyond seed spread ({mean - t_mean:.1f})'
    return (f'{"ahead" if mean >= t_mean else "behind"} within seed spread '
            f'({mean - t_mean:+.1f})')


# ---------------------------------------------------------------- report


def mean_std(values) -> tuple:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return statistics.mean(vals), (statistics.stdev(vals)
                                   if len(vals) > 1 else None)


def fmt(ms: tuple) -> str:
    """'mean +- std' in percent and points (std only over several seeds)."""
    m, s = ms
    if m is None:
        return 'n/a'
    return f'{m:.0%}' if s is None else f'{m:.0%} +- {s * 100:.0f}'


def per_class_colour(per_class_runs: list) -> dict:
    """Class name -> colour gap closed, mean over seeds."""
    values: dict = {}
    for run in per_class_runs:
        for c, v in run['per_class'].items():
            if v['colour'] is not None:
                values.setdefault(class_name(int(c)), []).append(v['colour'])
    return {c: statistics.mean(v) for c, v in values.items()}


def summarise(results: dict) -> dict:
    """results[camera][method] = [per-seed result] -> numbers per camera
    and method (mean, std over seeds)."""
    out = {}
    for camera, by_method in results.items():
        out[camera] = {}
        for method, runs in by_method.items():
            gc = [r['gap_closed'] for r in runs]
            pc = [r['per_class']['gap_closed'] for r in runs]
            row = dict(
                seeds=len(runs),
                stats_mean=mean_std([g['mean'] for g in gc]),
                per_stat={k: mean_std([g[k] for g in gc]) for k in STATS},
                class_colour=mean_std([p['mean']['colour'] for p in pc]),
                class_noise=mean_std([p['mean']['noise_level'] for p in pc]),
                class_edges=mean_std([p['mean']['edge_strength']
                                      for p in pc]),
                per_class_colour=per_class_colour(pc),
                # The same without the gaps the images cannot measure
                # (domain_stats.class_gap_closed: within_noise; n/a in
                # results measured before it, which a resumed run reads).
                measurable={k: mean_std([p.get('measurable_mean', {}).get(k)
                                         for p in pc])
                            for k in CLASS_GAPS},
                within_noise={k: sorted({
                    class_name(int(c)) for p in pc
                    for c, v in p['per_class'].items()
                    if v.get('within_noise', {}).get(k)})
                    for k in CLASS_GAPS},
                # Spread between seeds per statistic, in points.
                max_seed_spread=max(
                    ((max(g[k] for g in gc) - min(g[k] for g in gc)) * 100
                     for k in STATS if all(g[k] is not None for g in gc)),
                    default=0.0))
            colours = row['per_class_colour']
            worst = min(colours, key=colours.get) if colours else None
            row['worst_class'] = (worst, colours.get(worst))
            row['classes_worse_than_source'] = sorted(
                c for c, v in colours.items() if v < 0)
            out[camera][method] = row
    return out


def report_md(summary: dict, cameras: list, methods: list,
              seconds: float) -> str:
    lines = ['# Camera zoo: DA-KPN (one recipe) vs the training-free peers',
             '', 'Share of the source -> real gap closed (mean +- std over '
             'seeds, in points); whole-image statistics and per-class '
             'realism (see `dakpn_aug/domain_stats.py`). Source: the 48 '
             'synthetic images; real: the camera\'s val split.', '',
             '| camera | method | whole image (mean) | saturation | '
             'brightness | noise | edges | per-class colour | per-class '
             'noise | per-class edges | worst class (colour) | classes made '
             'worse (mean over seeds) |', '|' + '---|' * 12]
    for camera in cameras:
        for method in methods:
            r = summary[camera].get(method)
            if r is None:
                continue
            name, value = r['worst_class']
            worst = f'{name} {format_pct(value)}' if name else 'n/a'
            lines.append(
                f'| {camera} | {method} | {fmt(r["stats_mean"])} | ' +
                ' | '.join(fmt(r['per_stat'][k]) for k in STATS) +
                f' | {fmt(r["class_colour"])} | {fmt(r["class_noise"])} | '
                f'{fmt(r["class_edges"])} | {worst} | '
                f'{", ".join(r["classes_worse_than_source"]) or "none"} |')
    lines += ['', '## Per class, over the gaps the images can measure', '',
              'The per-class means above without the gaps under '
              f'{NOISE_MULTIPLE:g}x their sampling noise (half the difference '
              "between the class's means over the even and the odd images "
              'of the source and the real sets, combined): a small class in '
              'few real images has a source -> real gap these images cannot '
              'tell from noise, and its share closed is mostly noise.', '',
              '| camera | method | colour | noise | edges | gaps within '
              'noise (colour; noise; edges) |', '|---|---|---|---|---|---|']
    for camera in cameras:
        for method in methods:
            r = summary[camera].get(method)
            if r is None or 'measurable' not in r:
                continue
            lines.append(
                f'| {camera} | {method} | ' +
                ' | '.join(fmt(r['measurable'][k]) for k in CLASS_GAPS) +
                ' | ' + '; '.join(', '.join(r['within_noise'][k]) or 'none'
                                  for k in CLASS_GAPS) + ' |')
    lines += ['', '## Over cameras', '',
              '| method | whole image: mean over cameras | lowest camera | '
              'per-class colour: mean over cameras | lowest camera |',
              '|---|---|---|---|---|']
    for method in methods:
        rows = [(c, summary[c][method]) for c in cameras
                if method in summary[c]]
        if not rows:
            continue
        whole = [(c, r['stats_mean'][0]) for c, r in rows
                 if r['stats_mean'][0] is not None]
        colour = [(c, r['class_colour'][0]) for c, r in rows
                  if r['class_colour'][0] is not None]

        def lowest(pairs):
            c, v = min(pairs, key=lambda p: p[1])
            return f'{c} {v:.0%}'

        lines.append(
            f'| {method} | {np.mean([v for _, v in whole]):.0%} | '
            f'{lowest(whole)} | {np.mean([v for _, v in colour]):.0%} | '
            f'{lowest(colour)} |')
    lines += ['', f'Total time of this invocation: {seconds / 60:.0f} min '
              '(2 CPU cores unless stated).', '']
    return '\n'.join(lines)


def picture(out: Path, cameras: list, methods: list, size=(96, 160)):
    rows, titles = [], ['source'] + methods + ['real (val)']
    for camera in cameras:
        data = out / 'data' / camera
        src = list_images(data / 'gta5', 'gta5')[-1]  # a held-back image
        cells = [read_rgb(src)]
        for m in methods:
            p = out / 'translated' / camera / f'{m}_seed0' / src.name
            if p.is_file():
                cells.append(read_rgb(p))
        if len(cells) != len(methods) + 1:
            continue
        real = list_images(data / 'cityscapes', 'cityscapes', 'val')[0]
        cells.append(read_rgb(real))
        import cv2
        cells = [cv2.resize(c, (size[1], size[0]),
                            interpolation=cv2.INTER_AREA) for c in cells]
        cells[0] = caption(cells[0], camera)
        for i in range(1, len(cells)):
            cells[i] = caption(cells[i], '')
        rows.append(cells)
    if rows:
        write_png(out / 'zoo.png', grid(rows, titles=titles))


def main(argv=None) -> int:
    ap = argument_parser(
        __doc__,
        epilog='Methods: ' + ', '.join(METHODS) + ' (default: ' +
        ', '.join(DEFAULT_METHODS) + '). Cameras: ' +
        ', '.join(CAMERA_ZOO) + '.')
    ap.add_argument('--out', type=Path, default=Path('work_dirs/zoo'))
    ap.add_argument('--cameras', type=lambda t: csv(t, CAMERA_ZOO),
                    default=list(CAMERA_ZOO))
    ap.add_argument('--seeds', type=seeds_arg, default=[0, 1, 2])
    ap.add_argument('--methods', type=lambda t: csv(t, METHODS),
                    default=list(DEFAULT_METHODS),
                    help='rows; the dakpn-* rows other than dakpn are '
                    'ablations')
    ap.add_argument('--config', type=Path, default=RECIPES['dakpn'],
                    help='the config of the "dakpn" row (one for all '
                    'cameras)')
    ap.add_argument('--encoder', type=Path, default=None,
                    help='a trained demo encoder (default: train one with '
                    '--encoder-config)')
    ap.add_argument('--encoder-config', type=Path, default=ENCODER_CONFIG,
                    help='the config of the encoder the DA-KPN rows read '
                    'the images through (default: the demo encoder)')
    ap.add_argument('--max-iters', type=int, default=None,
                    help='override the config\'s iterations (smoke tests)')
    ap.add_argument('--downstream', action='store_true',
                    help='also the downstream benchmark on every camera '
                    '(long: ~85 min per camera on 2 CPU cores)')
    ap.add_argument('--downstream-iters', type=int, default=400,
                    help='segmenter iterations of the downstream runs')
    ap.add_argument('--downstream-counts', default='240,240,96',
                    help='synthetic, real train and real val images of the '
                    'downstream data sets')
    ap.add_argument('--downstream-cameras', type=lambda t: csv(t, CAMERA_ZOO),
                    default=None, help='cameras of the downstream benchmark '
                    '(default: all of --cameras)')
    ap.add_argument('--downstream-methods',
                    type=lambda t: csv(t, DOWNSTREAM_METHODS),
                    default=list(DOWNSTREAM_METHODS),
                    help='rows of the downstream benchmark (~4 min per '
                    'method and seed)')
    ap.add_argument('--downstream-jobs', type=int, default=1,
                    help='downstream trainings at once, one thread each '
                    '(2 on 2 cores does 1.4x the work of 1)')
    args = ap.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        ap.error('--max-iters must be >= 1')
    if args.downstream:
        # Checked before the zoo's hour of training, not after it.
        if 'dakpn' not in args.methods:
            ap.error('--downstream needs the dakpn method')
        missing = {'source-only', 'target-only', 'dakpn'} - set(
            args.downstream_methods)
        if missing:
            ap.error(f'--downstream-methods needs {sorted(missing)} (the gap '
                     'is measured between source-only and target-only)')
        stray = set(args.downstream_cameras or ()) - set(args.cameras)
        if stray:
            ap.error(f'--downstream-cameras {sorted(stray)} not in --cameras')
    out = args.out.resolve()
    t0 = time.time()
    datas = {c: prepare_data(out, c) for c in args.cameras}
    enc = None
    if set(args.methods) - set(PEERS) - set(ENCODER_ROWS):
        enc = prepare_encoder(out, next(iter(datas.values())) / 'gta5',
                              args.encoder, args.encoder_config)
    results: dict = {}
    for camera, data in datas.items():
        results[camera] = {}
        for method in args.methods:
            runs = []
            for seed in args.seeds:
                bundle = None
                if method in RECIPES:
                    config = args.config if method == 'dakpn' \
                        else RECIPES[method]
                    bundle = train_dakpn(out, camera, method, seed, data,
                                         enc, config, args.max_iters)
                elif method in ENCODER_ROWS:
                    bundle = train_dakpn(
                        out, camera, method, seed, data, prepare_encoder(
                            out, data / 'gta5', None, ENCODER_ROWS[method]),
                        args.config, args.max_iters)
                elif method in INFERENCE_ROWS:  # the dakpn row's bundle
                    bundle = train_dakpn(out, camera, 'dakpn', seed, data,
                                         enc, args.config, args.max_iters)
                runs.append(measure(out, camera, method, seed, data, bundle))
            results[camera][method] = runs
        res = results[camera]
        if 'dakpn' in res:
            write_png(out / f'swatches_{camera}.png',
                      class_swatches(res['dakpn'][0]))
        log(f'{camera}: ' + ', '.join(
            f'{m} {fmt(mean_std([r["gap_closed"]["mean"] for r in runs]))}'
            for m, runs in res.items()))
    down = {}
    if args.downstream:
        for camera in args.downstream_cameras or args.cameras:
            bundles = [out / 'runs' / camera / f'dakpn_seed{s}' /
                       'dakpn_bundle.pth' for s in args.seeds]
            down[camera] = downstream(
                out, camera, args.seeds, bundles, args.downstream_iters,
                [int(c) for c in args.downstream_counts.split(',')],
                args.downstream_methods, args.downstream_jobs)
    summary = summarise(results)
    md = report_md(summary, args.cameras, args.methods, time.time() - t0)
    if down:
        md += '\n' + downstream_md(
            down, args.downstream_iters,
            [int(c) for c in args.downstream_counts.split(',')])
    (out / 'zoo.md').write_text(md)
    (out / 'zoo.json').write_text(json.dumps(
        dict(summary=summary, downstream=down, cameras=args.cameras,
             seeds=args.seeds,
             methods=args.methods, config=str(args.config),
             encoder=None if enc is None else str(enc),
             encoder_config=None if args.encoder else
             str(args.encoder_config),
             camera_models={c: CAMERA_ZOO[c] for c in args.cameras}),
        indent=2))
    picture(out, args.cameras, args.methods)
    print(md)
    log(f'written: {out / "zoo.md"}, zoo.json, zoo.png, swatches_*.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
