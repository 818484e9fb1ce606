#!/usr/bin/env python
"""Downstream benchmark on the demo data (paper tables 3 and 6, in small).

Usage:
    python tools/benchmark_downstream.py [--demo work_dirs/demo]
        [--methods a,b,c] [--seeds 0,1,2] [--iters 400] [--ablations]
        [--out DIR] [--num-source 240] [--num-real-train 240]
        [--num-real-val 96]
    # your own data (GTA5-layout source, Cityscapes-layout target with a
    # val split) and DA-KPN bundle:
    python tools/benchmark_downstream.py --source-root SRC --target-root TGT
        --bundle dakpn_bundle.pth [--methods ...]
    # the report of an earlier run's records, training nothing:
    python tools/benchmark_downstream.py --reuse downstream.json \
        --report-only --out DIR [--methods ...] [--seeds ...]

Needs a finished ``make demo`` (its encoder and DA-KPN bundle). Generates a
larger data set with the demo generator (same seed and streams as the demo,
so the demo's images are its first ones; the extra source images are unseen
by the translator, the extra real val images give a steadier mIoU than the
demo's 16), then trains the light FCN of ``mmseg_configs/downstream/demo/``
on the synthetic images (source-only, + DA-KPN in the pipeline, + a
photometric baseline, + both, + each training-free albumentations peer:
fda, histogram-matching, pixel-distribution) and on the real train split
(target-only), and, for the stage-2 rows, trains it with
``tools/train_uda.py`` on synthetic + unlabelled real images
(adversarial, self-training, each also with online DA-KPN), once per seed,
and evaluates each on the real val split. With
``--ablations`` it first trains three ablated DA-KPN bundles (no blur / no
noise / no affine) with the demo config on the demo data, as the demo
bundle was, and adds a downstream run for each. Last, the FCN-score
(paper table 1): the target-only segmenters evaluated on the synthetic
images before and after offline translation with the demo bundle
(``tools/translate_dataset.py``, ``tools/fcn_score.py``; skipped with
``--no-fcn-score``). Writes
``downstream.md`` (mIoU mean +- std, the share of the source-only ->
target-only gap closed, per-class IoU, FCN-score), ``downstream.json`` and
``downstream.png`` (bar chart) into ``--out``.

Rerunning with the same ``--out`` skips trainings that already finished
(each writes its ``encoder.pth`` last), so a killed run resumes; an
``--out`` made with another DA-KPN bundle is refused, not silently reused.
``downstream.json`` keeps one record per finished (row, seed) (mIoU,
per-class IoU, minutes, commit, bundle digest) and is rewritten after each
run; ``--reuse FILE`` takes the records of an earlier run of the same
protocol (rows with DA-KPN only where the bundle is the same) so a job too
long for one machine session continues in the next; with
``--report-only`` it trains nothing and writes the report of those records.
``--jobs N`` trains N runs side by side with the cores split between them.

A long job (about 4 minutes per training on 2 CPU cores): it is a benchmark,
not a test.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from . import argument_parser, subcommand
from ..configs import configs_dir

CFG = configs_dir() / 'downstream' / 'demo'
#: Method name (stable: the keys of downstream.json's ``results``) ->
#: the demo downstream config that trains it.
VARIANTS = {
    'source-only': 'fcn_tiny_demo-source-only.py',
    'photometric': 'fcn_tiny_demo-photometric.py',
    'dakpn': 'fcn_tiny_demo-dakpn-pipeline.py',
    'dakpn+photometric': 'fcn_tiny_demo-dakpn-photometric.py',
    'target-only': 'fcn_tiny_demo-target-only.py',
    # The training-free albumentations peers (dakpn_aug/peers.py).
    'fda': 'fcn_tiny_demo-fda.py',
    'histogram-matching': 'fcn_tiny_demo-histogram-matching.py',
    'pixel-distribution': 'fcn_tiny_demo-pixel-distribution.py',
}
#: Stage-2 rows: method name -> UDA config (mmseg_configs/uda/demo/),
#: trained by tools/train_uda.py; ``dakpn+name`` adds online DA-KPN.
UDA_CFG = configs_dir() / 'uda' / 'demo'
UDA_VARIANTS = {
    'adversarial': 'fcn_tiny_demo-adversarial.py',
    'dakpn+adversarial': 'fcn_tiny_demo-dakpn-adversarial.py',
    'self-training': 'fcn_tiny_demo-self-training.py',
    'dakpn+self-training': 'fcn_tiny_demo-dakpn-self-training.py',
    'cycle-association': 'fcn_tiny_demo-cycle-association.py',
    'dakpn+cycle-association': 'fcn_tiny_demo-dakpn-cycle-association.py',
    'global-local': 'fcn_tiny_demo-global-local.py',
    'dakpn+global-local': 'fcn_tiny_demo-dakpn-global-local.py',
}
VARIANTS.update(UDA_VARIANTS)
#: The symmetric recipe (tools/train_symmetric.py, one run per seed gives
#: both rows): the fusion of models A and B, and model A alone.
SYMMETRIC = {'symmetric': 'fusion', 'symmetric-single': 'single'}
VARIANTS.update({name: f'symmetric:{key}' for name, key in
                 SYMMETRIC.items()})
ABLATIONS = ('blur', 'noise', 'affine')
PEER_NAMES = ('fda', 'histogram-matching', 'pixel-distribution')


def run(cmd, log: Path) -> None:
    with open(log, 'w') as f:
        res = subprocess.run([str(c) for c in cmd], stdout=f,
                             stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise SystemExit(f'benchmark_downstream: failed, see {log}')


#: Written into a row's work folder when its training finishes: the
#: commit, time and minutes of that training, for the records of later
#: invocations that resume from the folder.
ORIGIN = 'origin.json'
TIME_FORMAT = '%Y-%m-%d %H:%M'


def finished(work: Path) -> Path:
    """The file a finished training writes last (the segmenter)."""
    uda = work / 'segmentor.pth'
    return uda if uda.exists() else work / 'encoder.pth'


def read_miou(work: Path) -> float:
    import torch
    meta = torch.load(finished(work), weights_only=True)['meta']
    return float(meta['mIoU'])


def per_class_iou(log_text: str) -> dict:
    """Class -> IoU (percent) from the last per-class table mmseg's
    IoUMetric printed into a training log; classes absent from the val
    split (printed as nan) are left out."""
    parts = log_text.rsplit('per class results:', 1)
    out = {}
    for line in (parts[1].splitlines() if len(parts) == 2 else []):
        line = line.strip()
        if line.startswith('+') or not line:
            continue
        if not line.startswith('|'):
            if out:
                break  # the table has ended
            continue
        cells = [c.strip() for c in line.strip('|').split('|')]
        if cells[0] == 'Class' or len(cells) < 2:
            continue
        iou = float(cells[1])
        if iou == iou:  # not nan
            out[cells[0]] = iou
    return out


#: One lock per symmetric work folder: its two rows share one run, and
#: with --jobs they may be picked up side by side.
_SYMMETRIC_LOCKS: dict = {}
_LOCKS_LOCK = threading.Lock()


def run_symmetric(kind: str, work: Path, seed: int, iters: int, roots,
                  bundle: Path, reverse_bundle: Path) -> float:
    """One seed of the symmetric recipe (shared by its two rows)."""
    results = work / 'results.json'
    with _LOCKS_LOCK:
        lock = _SYMMETRIC_LOCKS.setdefault(work, threading.Lock())
    with lock:
        if not results.exists():
            work.mkdir(parents=True, exist_ok=True)
            run([*subcommand('train-symmetric'),
                 '--source-root', roots[0], '--target-root', roots[1],
                 '--bundle', bundle, '--target-bundle', reverse_bundle,
                 '--seed', seed, '--max-iters', iters, '--work-dir', work],
                work.with_suffix('.log'))
    return float(json.loads(results.read_text())[kind])


def done_marker(config: str, work: Path) -> Path:
    """The file whose presence says a row's training in ``work`` is
    finished (that of the shared symmetric run for the symmetric rows)."""
    if config.startswith('symmetric:'):
        return symmetric_work(work) / 'results.json'
    return finished(work)


def symmetric_work(work: Path) -> Path:
    """The one run of the symmetric recipe behind both symmetric rows of
    ``work`` (``OUT/ROW/seedN``): ``OUT/symmetric/seedN``."""
    return work.parent.parent / 'symmetric' / work.name


def row_log(name: str, work: Path) -> Path:
    """The log whose last per-class table is the row's result: the
    training's own log; for ``symmetric`` the recipe's log (its last table
    is the fusion's test), for ``symmetric-single`` model A's training in
    the last round."""
    if name not in SYMMETRIC:
        return work / 'run.log'
    run_dir = symmetric_work(work)
    if SYMMETRIC[name] == 'fusion':
        return run_dir.with_suffix('.log')
    rounds = sorted(run_dir.glob('round*/A/train_uda.log'),
                    key=lambda p: int(p.parent.parent.name[len('round'):]))
    return rounds[-1] if rounds else run_dir / 'missing.log'


def train_segmenter(config: str, work: Path, seed: int, iters: int,
                    roots, bundle: Path, reverse_bundle: Path = None
                    ) -> float:
    """Train one row's segmenter (``roots``: source and target dataset
    folders) and return its mIoU on the target's val split."""
    if config.startswith('symmetric:'):
        return run_symmetric(config.split(':')[1], symmetric_work(work),
                             seed, iters, roots, bundle, reverse_bundle)
    if finished(work).exists():  # finished in an earlier run
        return read_miou(work)
    source, target = roots
    work.mkdir(parents=True, exist_ok=True)
    if config in UDA_VARIANTS.values():
        cmd = [*subcommand('train-uda'),
               UDA_CFG / config, '--work-dir', work, '--seed', seed,
               '--max-iters', iters, '--source-root', source,
               '--target-root', target]
        if 'dakpn' in config:
            cmd += ['--bundle', bundle]
        run(cmd, work / 'run.log')
        return read_miou(work)
    opts = [f'train_dataloader.dataset.data_root={source}',
            f'val_dataloader.dataset.data_root={target}',
            f'test_dataloader.dataset.data_root={target}']
    if 'target' in config:
        opts[0] = f'train_dataloader.dataset.data_root={target}'
    if 'dakpn' in config:
        opts.append(f'train_dataloader.dataset.pipeline.2.checkpoint={bundle}')
    if config.endswith(('fda.py', 'matching.py', 'distribution.py')):
        opts.append('train_dataloader.dataset.pipeline.2.reference_root='
                    f'{target}')
    run([*subcommand('train-segmentor'), CFG / config,
         '--work-dir', work, '--seed', seed, '--max-iters', iters,
         '--cfg-options', *opts], work / 'run.log')
    return read_miou(work)


def benchmark_data(out: Path, seed: int, counts: dict) -> Path:
    """The benchmark's data set, generated once (regenerated if the counts
    or the seed changed)."""
    from dakpn_aug.data.demo import make_demo_data
    data = out / 'data'
    summary = data / 'demo_data.json'
    want = dict(source=counts['num_source'],
                real_train=counts['num_real_train'],
                real_val=counts['num_real_val'])
    if summary.exists():
        have = json.loads(summary.read_text())
        if have.get('seed') == seed and have.get('counts') == want:
            return data
    print(f'generating the benchmark data ({want}) -> {data}', flush=True)
    make_demo_data(data, seed=seed, **counts)
    return data


def check_same_bundle(out: Path, bundle: Path) -> None:
    """Finished runs in ``out`` are reused, so they must come from this
    bundle: remember its hash on the first run, refuse another one later."""
    digest = bundle_digest(bundle)
    stamp = out / 'bundle.digest'
    if not stamp.exists():
        stamp.write_text(digest + '\n')
    elif stamp.read_text().strip() != digest:
        raise SystemExit(
            f'benchmark_downstream: {out} holds results of another DA-KPN '
            f'bundle than {bundle} (a new `make demo`?); pass a new --out or '
            'delete it')


def fcn_score_seeds(out: Path, seeds) -> list:
    """The seeds whose target-only segmenter was trained in ``out`` (a run
    reused from another run's records has no weights here)."""
    return [seed for seed in seeds if (
        out / 'target-only' / f'seed{seed}' / 'encoder.pth').is_file()]


def fcn_scores(out: Path, source: Path, bundle: Path, seeds) -> dict:
    """FCN-score of the synthetic images, untranslated and translated
    offline by ``bundle``, under each seed's target-only segmenter: image
    set -> list of dict(pxAcc, clsAcc, mIoU), one per seed (cached)."""
    root = out / 'fcn_score'
    translated = root / 'gta5_dakpn'
    # Resumable on its own: finished images are skipped.
    run([*subcommand('translate'), bundle,
         source, translated, '--labels', 'copy'],
        root.with_suffix('.translate.log'))
    scores = {}
    for name, images in (('synthetic', source),
                         ('DA-KPN translated', translated)):
        scores[name] = []
        for seed in seeds:
            tag = 'gta5' if images == source else images.name
            res = root / f'{tag}_seed{seed}.json'
            if not res.exists():
                weights = out / 'target-only' / f'seed{seed}' / 'encoder.pth'
                run([*subcommand('fcn-score'),
                     CFG / VARIANTS['target-only'], weights, images,
                     '--work-dir', root / 'work', '--out', res],
                    res.with_suffix('.log'))
            scores[name].append(json.loads(res.read_text()))
    return scores


def fcn_score_table(scores: dict) -> str:
    lines = ['| images | pxAcc | clsAcc | mIoU |', '|---|---:|---:|---:|']
    for name, runs in scores.items():
        cells = []
        for key in ('pxAcc', 'clsAcc', 'mIoU'):
            m, s = mean_std([r[key] for r in runs])
            cells.append(f'{m:.1f} +- {s:.1f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def bundle_digest(path: Path) -> str:
    """Which bundle: its weights and settings, not the time it was saved
    (``DAKPNTranslator.bundle_digest``), so a ``make demo`` that retrains
    the same bundle bit for bit in a later session matches its records."""
    from dakpn_aug import DAKPNTranslator
    return DAKPNTranslator.bundle_digest(path)


def git_commit() -> str:
    """The code the runs come from (``+dirty`` with uncommitted changes)."""
    def git(*a):
        return subprocess.run(['git', *a], cwd=Path(__file__).parent,
                              capture_output=True,
                              text=True).stdout.strip()
    head = git('rev-parse', '--short', 'HEAD')
    if not head:
        return 'unknown'
    return head + ('+dirty' if git('status', '--porcelain',
                                   '--untracked-files=no') else '')


def collect(runs: dict, seeds):
    """``results`` (row -> mIoU per finished seed, in seed order) and
    ``per_class`` (row -> per-class IoU per finished seed) from the run
    records; rows without a finished seed are left out."""
    results, per_class = {}, {}
    for name, by_seed in runs.items():
        done = [by_seed[str(s)] for s in seeds if str(s) in by_seed]
        if done:
            results[name] = [r['mIoU'] for r in done]
            per_class[name] = [r.get('per_class', {}) for r in done]
    return results, per_class


def reusable_runs(path: Path, protocol: dict, variants, seeds, provenance):
    """``(row, seed, record)`` of an earlier ``downstream.json`` that this
    run can take as finished: same protocol (iterations, image counts,
    data seed, data folders) and, for rows that use DA-KPN, the same
    bundles (``bundle_digest``: weights and settings, not the file's save
    time). Anything else is trained again; a file of another protocol is an
    error, not a silent mix."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f'benchmark_downstream: --reuse {path}: {e}')
    # (compared as JSON: what a file holds is lists, not tuples)
    if json.loads(json.dumps(saved.get('protocol'))) != \
            json.loads(json.dumps(protocol)):
        raise SystemExit(
            f'benchmark_downstream: --reuse {path} was measured with '
            f'{saved.get("protocol")}, this run is {protocol}')
    same_configs = {}  # commit -> its configs are today's
    for name, by_seed in saved.get('runs', {}).items():
        if name not in variants:
            continue
        for i, seed in enumerate(seeds):
            record = by_seed.get(str(seed))
            if record is None:
                continue
            commit = str(record.get('commit', ''))
            key = (commit, name)
            if key not in same_configs:
                same_configs[key] = configs_unchanged_since(
                    commit, row_configs(name))
            want = provenance(name, i)
            if not same_configs[key]:
                print(f'--reuse: {name} seed {seed} came from commit '
                      f'{commit or "unknown"}, whose configs differ from '
                      "today's (or cannot be compared): training it again",
                      flush=True)
            elif all(record.get(k) == v for k, v in want.items()):
                yield name, seed, record
            else:
                print(f'--reuse: {name} seed {seed} was trained with '
                      'another DA-KPN bundle: training it again',
                      flush=True)


def row_configs(name: str) -> list:
    """The config files that define a row: its config and every local
    ``_base_`` it builds on (the symmetric rows: models A and B)."""
    config = VARIANTS[name]
    if name in SYMMETRIC:
        tops = [UDA_CFG / 'fcn_tiny_demo-dakpn-adversarial.py',
                UDA_CFG / 'fcn_tiny_demo-symmetric-b.py']
    elif name.startswith('dakpn-no-'):  # ablations: the dakpn row's file
        tops = [CFG / VARIANTS['dakpn']]
    else:
        tops = [(UDA_CFG if config in UDA_VARIANTS.values() else CFG) /
                config]
    seen = []
    while tops:
        path = tops.pop().resolve()
        if path in seen:
            continue
        seen.append(path)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                    getattr(t, 'id', None) == '_base_' for t in node.targets):
                bases = ast.literal_eval(node.value)
                for base in [bases] if isinstance(bases, str) else bases:
                    if '::' not in base:  # mmseg's own are pinned
                        tops.append(path.parent / base)
    return seen


def configs_unchanged_since(commit: str, files) -> bool:
    """Whether ``files`` (a row's configs) are today what they were at
    ``commit``, comments aside; False when that cannot be told (no git, an
    unknown or uncommitted state)."""
    if not commit or commit.endswith('+dirty') or commit == 'unknown':
        return False
    from ..configs import configs_dir
    folder = configs_dir().resolve()
    res = subprocess.run(['git', 'diff', '--quiet', r'-I^\s*#', commit,
                          '--', *[str(f) for f in files]], cwd=folder,
                         capture_output=True)
    return res.returncode == 0


def mean_std(v):
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def per_class_table(per_class: dict) -> str:
    """Rows: classes; columns: variants; cells: IoU averaged over seeds."""
    names = [n for n in per_class if per_class[n]]
    classes = []
    for n in names:
        for run in per_class[n]:
            classes += [c for c in run if c not in classes]
    if not classes:
        return ''
    lines = ['| class | ' + ' | '.join(names) + ' |',
             '|---|' + '---:|' * len(names)]
    for c in classes:
        cells = []
        for n in names:
            v = [run[c] for run in per_class[n] if c in run]
            cells.append(f'{statistics.mean(v):.1f}' if v else '')
        lines.append(f'| {c} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def data_title(protocol: dict = None) -> str:
    """What the chart's title calls the data: the demo generator's camera
    when its summary (``demo_data.json``) names one, else the folder."""
    data = (protocol or {}).get('data')
    if not data or data[0] == 'generated':  # ['generated', data seed]
        return 'the demo data'
    root = Path(data[0]).parent
    try:
        camera = json.loads((root / 'demo_data.json').read_text()).get(
            'camera')
    except (OSError, ValueError):
        return root.name
    return f'the demo data, camera {camera}' if camera else 'the demo data'


def write_report(results: dict, seeds, iters: int, counts: dict,
                 out: Path, per_class: dict = None,
                 fcn: dict = None, runs: dict = None,
                 protocol: dict = None, note: str = '') -> str:
    src = mean_std(results['source-only'])[0] \
        if results.get('source-only') else None
    tgt = mean_std(results['target-only'])[0] \
        if results.get('target-only') else None
    lines = ['| training data | mIoU (mean +- std) | per seed | gap closed |',
             '|---|---:|---|---:|']
    for name, v in results.items():
        m, s = mean_std(v)
        closed = 'n/a' if src is None or tgt is None or tgt == src \
            else f'{(m - src) / (tgt - src):.0%}'
        per_seed = ', '.join(f'{x:.1f}' for x in v)
        spread = f'{m:.2f} +- {s:.2f}' if len(v) > 1 else \
            f'{m:.2f} (one run)'  # one sample has no spread
        lines.append(f'| {name} | {spread} | {per_seed} | {closed} |')
    md = (f'Downstream mIoU on the real val split ({counts["num_real_val"]} '
          f'images), light FCN trained {iters} iterations (batch 8) on '
          f'{counts["num_source"]} synthetic or {counts["num_real_train"]} '
          f'real images, seeds {", ".join(map(str, seeds))}.\n\n'
          + '\n'.join(lines) + '\n')
    partial = [n for n, v in results.items() if len(v) < len(seeds)]
    if partial:
        md += (f'\nNot all {len(seeds)} seeds finished yet: '
               + ', '.join(f'{n} ({len(results[n])})' for n in partial)
               + '.\n')
    table = per_class_table(per_class or {})
    if table:
        md += '\nPer-class IoU (mean over seeds):\n\n' + table
    if fcn:
        md += ('\nFCN-score (paper table 1): the target-only segmenters '
               'on the synthetic images with their labels (mean +- std over '
               'seeds):\n\n' + fcn_score_table(fcn))
    md += note
    (out / 'downstream.md').write_text(md)
    (out / 'downstream.json').write_text(json.dumps(dict(
        results=results, per_class=per_class or {}, fcn_score=fcn or {},
        seeds=list(seeds),
        iters=iters, counts=counts, protocol=protocol or {},
        runs=runs or {}), indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    colours = ['#999999' if n == 'source-only' else
               '#4c72b0' if n == 'target-only' else
               '#dd8452' if n == 'photometric' else
               '#a1d99b' if n.startswith('dakpn-no-') else  # ablations
               '#c44e52' if n in PEER_NAMES else
               '#8172b3' if n in UDA_VARIANTS and 'dakpn' not in n else
               '#55a868' for n in names]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.8))
    means = [mean_std(results[n])[0] for n in names]
    ax.bar(names, means, yerr=[mean_std(results[n])[1] for n in names],
           capsize=4, color=colours)
    for i, n in enumerate(names):
        for x in results[n]:
            ax.plot(i, x, 'k.', ms=4)
    for level, colour in ((src, '#999999'), (tgt, '#4c72b0')):
        if level is not None:
            ax.axhline(level, color=colour, lw=0.8, ls='--')
    ax.set_ylabel('mIoU on real val (%)')
    ax.set_title(f'Downstream segmentation on {data_title(protocol)} '
                 f'({len(seeds)} seeds; dots: single runs)')
    plt.xticks(rotation=20, ha='right')
    fig.tight_layout()
    fig.savefig(out / 'downstream.png', dpi=120)
    plt.close(fig)
    return md


def report_from_records(path: Path, methods, seeds, out: Path) -> str:
    """The report (downstream.md, .json, .png in ``out``) of the records in
    an earlier run's ``downstream.json``, training nothing: its protocol,
    the given rows and seeds that it holds, its FCN-score. Records whose
    configs cannot be compared with today's (an uncommitted or unknown
    commit: ``--reuse`` would train them again) are reported all the
    same and named under the table."""
    try:
        saved = json.loads(Path(path).read_text())
        protocol = saved['protocol']
        iters, counts = protocol['iters'], protocol['counts']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f'benchmark_downstream: --report-only {path}: not '
                         f'a downstream.json ({e!r})')
    runs = {name: {str(s): saved['runs'][name][str(s)] for s in seeds
                   if str(s) in saved['runs'][name]}
            for name in methods if name in saved.get('runs', {})}
    results, per_class = collect(runs, seeds)
    if not results:
        raise SystemExit(f'benchmark_downstream: --report-only {path}: no '
                         'records of the chosen methods and seeds')
    unchecked = [f'{name} seed {seed} ({record.get("commit") or "unknown"})'
                 for name, by_seed in runs.items()
                 for seed, record in by_seed.items()
                 if not configs_unchanged_since(
                     str(record.get('commit', '')), row_configs(name))]
    note = ('\nFrom records whose configs cannot be compared with '
            "today's (trained from an uncommitted or unknown state): "
            + ', '.join(unchecked) + '.\n') if unchecked else ''
    return write_report(results, seeds, iters, counts, out, per_class,
                        saved.get('fcn_score') or None, runs=runs,
                        protocol=protocol, note=note)


def csv_list(text: str, allowed=None) -> list:
    items = [t.strip() for t in text.split(',') if t.strip()]
    bad = [t for t in items if allowed is not None and t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f'unknown {bad or text!r}; choose from {", ".join(allowed)}')
    return items


def main(argv=None) -> int:
    ap = argument_parser(
        __doc__,
        epilog='Methods (stable names, the keys of downstream.json): ' +
        ', '.join(VARIANTS) + '; --ablations adds dakpn-no-blur, '
        'dakpn-no-noise, dakpn-no-affine.')
    ap.add_argument('--demo', type=Path, default=Path('work_dirs') / 'demo',
                    help='a finished make demo (its bundle and encoder)')
    ap.add_argument('--data', type=Path, default=None,
                    help='use this demo-layout data set (gta5/ and '
                    'cityscapes/ with train and val splits) instead of '
                    'generating one')
    ap.add_argument('--source-root', default=None,
                    help='your own labelled synthetic data set (GTA5 layout '
                    'or any folder layout the GTA5 dataset reads); with '
                    '--target-root, instead of --data')
    ap.add_argument('--target-root', default=None,
                    help='your own real data set (Cityscapes layout with '
                    'train and val splits; train labels only for the '
                    'target-only row)')
    ap.add_argument('--bundle', default=None,
                    help='DA-KPN bundle(s) for the dakpn rows: one path, or '
                    'one per seed, comma-separated (default: the demo\'s)')
    ap.add_argument('--reverse-bundle', type=Path, default=None,
                    help='target -> source DA-KPN bundle of the symmetric '
                    'rows (default: train one with tools/train_dakpn.py '
                    '--reverse on the demo data)')
    ap.add_argument('--methods', type=lambda t: csv_list(t, VARIANTS),
                    default=list(VARIANTS))
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--iters', type=int, default=400)
    ap.add_argument('--dakpn-iters', type=int, default=None,
                    help='iterations of the ablated DA-KPN trainings')
    ap.add_argument('--ablations', action='store_true')
    ap.add_argument('--data-seed', type=int, default=0,
                    help='seed of the generated benchmark data')
    ap.add_argument('--num-source', type=int, default=240)
    ap.add_argument('--num-real-train', type=int, default=240)
    ap.add_argument('--num-real-val', type=int, default=96)
    ap.add_argument('--out', type=Path,
                    default=Path('work_dirs') / 'downstream_benchmark')
    ap.add_argument('--jobs', type=int, default=1,
                    help='trainings side by side, the cores split between '
                    'them (2 on the 2-core VM: 1.4x the throughput)')
    ap.add_argument('--reuse', type=Path, default=None,
                    help='a downstream.json of an earlier run of the same '
                    'protocol: its finished (row, seed) runs are taken, not '
                    'retrained (rows with DA-KPN only with the same bundle)')
    ap.add_argument('--report-only', action='store_true',
                    help='train nothing: write the report of the --reuse '
                    'records (their protocol, the chosen methods and seeds) '
                    'into --out')
    ap.add_argument('--no-fcn-score', dest='fcn_score', action='store_false',
                    help='skip the FCN-score (an offline translation of the '
                    'source and one evaluation per seed): for callers that '
                    'read only the mIoU rows')
    args = ap.parse_args(argv)
    if args.report_only:
        if args.reuse is None:
            ap.error('--report-only reports the records of --reuse FILE')
        if (args.out / 'downstream.json').resolve() == args.reuse.resolve():
            ap.error('--report-only would overwrite its --reuse file with '
                     'the chosen records: pass another --out')
        seeds = [int(s) for s in args.seeds.split(',')]
        args.out.mkdir(parents=True, exist_ok=True)
        md = report_from_records(args.reuse, args.methods, seeds, args.out)
        print(md + f'\nwritten: {args.out}/downstream.md, .json, .png')
        return 0
    if bool(args.source_root) != bool(args.target_root):
        ap.error('--source-root and --target-root go together')
    if args.source_root and args.data:
        ap.error('--data or --source-root/--target-root, not both')
    for root in (args.source_root, args.target_root, args.data):
        if root and not Path(root).is_dir():
            ap.error(f'data set folder does not exist: {root}')
    seeds = [int(s) for s in args.seeds.split(',')]
    demo_data = args.demo / 'data'
    enc = args.demo / 'encoder' / 'encoder.pth'
    bundles_per_seed = ([Path(b) for b in args.bundle.split(',')]
                        if args.bundle else
                        [args.demo / 'dakpn' / 'dakpn_bundle.pth'])
    if len(bundles_per_seed) not in (1, len(seeds)):
        ap.error('--bundle takes one path or one per seed')
    if len(bundles_per_seed) == 1:
        bundles_per_seed = bundles_per_seed * len(seeds)
    uses_dakpn = any(m.startswith(('dakpn', 'symmetric'))
                     for m in args.methods) or \
        args.ablations
    needed = [p for p in set(bundles_per_seed) if uses_dakpn]
    if args.ablations or (set(args.methods) & set(SYMMETRIC) and
                          args.reverse_bundle is None):
        needed += [demo_data, enc]
    if args.reverse_bundle is not None:
        needed.append(args.reverse_bundle)
    for p in needed:
        if not Path(p).exists():
            raise SystemExit(f'benchmark_downstream: {p} missing: run '
                             '`make demo` first (or pass --demo/--bundle)')
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if uses_dakpn:
        check_same_bundle(out, bundles_per_seed[0])
    counts = dict(num_source=args.num_source,
                  num_real_train=args.num_real_train,
                  num_real_val=args.num_real_val)
    if args.source_root or args.target_root:
        roots = (Path(args.source_root), Path(args.target_root))
    elif args.data is not None:
        roots = (args.data / 'gta5', args.data / 'cityscapes')
    generated = not (args.source_root or args.data)
    if generated:
        data = benchmark_data(out, args.data_seed, counts)
        roots = (data / 'gta5', data / 'cityscapes')
    if args.data is not None or args.source_root:
        from dakpn_aug.data.layouts import list_images
        try:
            counts = dict(
                num_source=len(list_images(roots[0], 'auto')),
                num_real_train=len(list_images(roots[1], 'cityscapes',
                                               'train')),
                num_real_val=len(list_images(roots[1], 'cityscapes',
                                             'val')))
        except Exception as e:  # noqa: BLE001 - one clear line
            raise SystemExit(f'benchmark_downstream: {e}')
    variants = {m: VARIANTS[m] for m in args.methods}
    if 'target-only' in variants and not any(
            (roots[1] / 'gtFine' / 'train').rglob('*.png')):
        print('benchmark_downstream: note: the target train split has no '
              'labels (gtFine/train): target-only skipped', flush=True)
        del variants['target-only']
    bundles = {name: list(bundles_per_seed) for name in variants}
    t0 = time.time()
    reverse_bundle = args.reverse_bundle
    if reverse_bundle is None and set(variants) & set(SYMMETRIC):
        # The target -> source DA-KPN of model B, trained like the demo
        # bundle (demo config, demo data, demo encoder) with --reverse.
        wd = out / 'dakpn_reverse'
        reverse_bundle = wd / 'dakpn_bundle.pth'
        if not reverse_bundle.exists():
            print(f'training the target -> source DA-KPN -> {wd}',
                  flush=True)
            run([*subcommand('train-dakpn'),
                 configs_dir() / 'demo' / 'dakpn_demo.py',
                 '--work-dir', wd, '--source-root', demo_data / 'gta5',
                 '--target-root', demo_data / 'cityscapes',
                 '--encoder-checkpoint', enc, '--reverse'],
                out / 'dakpn_reverse.log')
    if args.ablations:
        for part in ABLATIONS:
            wd = out / f'dakpn_no_{part}'
            name = f'dakpn-no-{part}'
            variants[name] = VARIANTS['dakpn']
            bundles[name] = [wd / 'dakpn_bundle.pth'] * len(seeds)
            if bundles[name][0].exists():
                continue
            print(f'training DA-KPN without {part} -> {wd}', flush=True)
            cmd = [*subcommand('train-dakpn'),
                   configs_dir() / 'demo' / 'dakpn_demo.py',
                   '--work-dir', wd, '--source-root', demo_data / 'gta5',
                   '--target-root', demo_data / 'cityscapes',
                   '--encoder-checkpoint', enc, '--cfg-options',
                   f'model.ablation.{part}=False']
            if args.dakpn_iters:
                cmd[-2:-2] = ['--max-iters', str(args.dakpn_iters)]
            run(cmd, out / f'dakpn_no_{part}.log')
    # One record per finished (row, seed): its mIoU, per-class IoU and
    # where it came from; --reuse brings those of an earlier run in.
    runs = {name: {} for name in variants}
    protocol = dict(iters=args.iters, counts=counts,
                    data=['generated', args.data_seed] if generated
                    else [str(Path(r).resolve()) for r in roots])
    digests = {}  # bundle path -> digest, computed once

    def provenance(name: str, i: int) -> dict:
        out = {}
        if name.startswith(('dakpn', 'symmetric')):
            b = bundles[name][i]
            out['bundle_digest'] = digests.setdefault(b, bundle_digest(b))
            # The source labels guide the translation (DAKPNTranslator);
            # records from before label guidance are trained again.
            out['label_guidance'] = True
        if name in SYMMETRIC:
            out['reverse_bundle_digest'] = digests.setdefault(
                reverse_bundle, bundle_digest(reverse_bundle))
        return out

    if args.reuse is not None:
        for name, seed, record in reusable_runs(args.reuse, protocol,
                                                variants, seeds,
                                                provenance):
            runs[name][str(seed)] = record
            print(f'reused from {args.reuse}: {name} seed {seed}: mIoU '
                  f'{record["mIoU"]:.2f}', flush=True)
    tasks = [(name, i, seed) for name in variants
             for i, seed in enumerate(seeds) if str(seed) not in runs[name]]
    commit = git_commit()

    def train_one(name: str, i: int, seed: int) -> dict:
        wd = out / name.replace('+', '_and_') / f'seed{seed}'
        # A training an earlier invocation finished keeps where it came
        # from (the ORIGIN file it wrote), not this invocation's commit and
        # time; one from before ORIGIN files has an unknown commit (which
        # --reuse then trains again). The two symmetric rows share one run
        # and its ORIGIN, whichever of them finds it done.
        shared = variants[name].startswith('symmetric:')
        origin_dir = symmetric_work(wd) if shared else wd
        marker, origin = done_marker(variants[name], wd), origin_dir / ORIGIN
        made = None
        if marker.exists():
            made = json.loads(origin.read_text()) if origin.is_file() \
                else dict(minutes=None, commit='unknown', finished=(
                    time.strftime(TIME_FORMAT,
                                  time.localtime(marker.stat().st_mtime))))
        started = time.time()
        miou = train_segmenter(variants[name], wd, seed, args.iters, roots,
                               bundles[name][i], reverse_bundle)
        if made is None:  # trained now (or waited for the shared run)
            made = dict(minutes=round((time.time() - started) / 60, 1),
                        commit=commit, finished=time.strftime(TIME_FORMAT))
            origin_dir.mkdir(parents=True, exist_ok=True)
            if not (shared and origin.is_file()):
                origin.write_text(json.dumps(made) + '\n')
        log = row_log(name, wd)
        return dict(mIoU=miou,
                    per_class=per_class_iou(log.read_text())
                    if log.exists() else {},
                    **made, **provenance(name, i))

    if args.jobs > 1 and 'OMP_NUM_THREADS' not in os.environ:
        # Side-by-side trainings share the cores (the training tools read
        # OMP_NUM_THREADS): 2 jobs x 1 thread did 1.4x the work of 1 x 2
        # threads on the 2-core development VM.
        os.environ['OMP_NUM_THREADS'] = str(
            max(1, (os.cpu_count() or 1) // args.jobs))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(train_one, *task): task for task in tasks}
        for done, future in enumerate(
                concurrent.futures.as_completed(futures), 1):
            name, _, seed = futures[future]
            runs[name][str(seed)] = record = future.result()
            took = 'earlier' if record['minutes'] is None else \
                f'{record["minutes"]:.0f} min'
            print(f'[{done}/{len(tasks)}] {name:22s} seed {seed}: mIoU '
                  f'{record["mIoU"]:.2f} ({took}; '
                  f'{(time.time() - t0) / 60:.0f} min in all)', flush=True)
            # The report grows with every finished run (a long job).
            so_far, so_far_per_class = collect(runs, seeds)
            write_report(so_far, seeds, args.iters, counts, out,
                         so_far_per_class, runs=runs, protocol=protocol)
    results, per_class = collect(runs, seeds)
    fcn = None
    scorers = fcn_score_seeds(out, seeds)
    fcn_wanted = args.fcn_score and 'target-only' in variants and uses_dakpn
    if fcn_wanted and scorers:
        print('FCN-score: translating the synthetic images offline and '
              'scoring them with the target-only segmenters of seeds '
              f'{", ".join(map(str, scorers))}', flush=True)
        fcn = fcn_scores(out, roots[0], bundles_per_seed[0], scorers)
    elif fcn_wanted:
        print(f'FCN-score: skipped: no target-only weights in {out} (runs '
              'taken from --reuse records keep no weights)', flush=True)
    md = write_report(results, seeds, args.iters, counts, out, per_class,
                      fcn, runs=runs, protocol=protocol)
    print('\n' + md + f'\nwritten: {out}/downstream.md, .json, .png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
