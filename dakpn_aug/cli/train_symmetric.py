#!/usr/bin/env python
"""The symmetric recipe in one command: models A (source translated S -> T
+ target) and B (source + target translated T -> S), both with
output-space adversarial alignment; then rounds of consistency pseudo
labels (confidence = (fused probability + A/B agreement) / 2 above a
threshold) that both models train on, warm-started from the last round;
last, the fusion of A and B evaluated on the target's val split.

Usage:
    python tools/train_symmetric.py --source-root SRC --target-root TGT
        --bundle S2T_BUNDLE --target-bundle T2S_BUNDLE [--rounds 2]
        [--threshold 0.9] [--config-a CFG] [--config-b CFG] [--seed S]
        [--max-iters N] [--work-dir DIR] [--jobs 2]

The T -> S bundle comes from ``tools/train_dakpn.py CONFIG --reverse``.
Every step writes its result last and is skipped when that exists, so a
killed run continues where it stopped (an interrupted training resumes from
its checkpoint). Writes ``DIR/roundR/{A,B}/`` (configs, logs, exported
segmentors), ``DIR/roundR/pseudo_labels/`` and ``DIR/results.json``
(single models and fusion mIoU); ``DIR/fusion_config.py`` evaluates the
fusion with mmseg's test loop. ``--jobs 2`` trains A and B of a round side
by side, the cores split between them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import dakpn_aug  # noqa: E402,F401  (mmcv.ops stand-in before mmseg)
from . import argument_parser, subcommand  # noqa: E402
from ..configs import configs_dir  # noqa: E402

DEMO = configs_dir() / 'uda' / 'demo'


def _fail(msg: str):
    raise SystemExit(f'train_symmetric: error: {msg}')


def parse_args(argv=None):
    from dakpn_aug.engine.launch import positive_int
    ap = argument_parser(__doc__)
    ap.add_argument('--source-root', required=True)
    ap.add_argument('--target-root', required=True)
    ap.add_argument('--bundle', required=True,
                    help='source -> target DA-KPN bundle (model A)')
    ap.add_argument('--target-bundle', required=True,
                    help='target -> source DA-KPN bundle (model B; '
                    'tools/train_dakpn.py --reverse)')
    ap.add_argument('--config-a', default=str(
        DEMO / 'fcn_tiny_demo-dakpn-adversarial.py'))
    ap.add_argument('--config-b', default=str(
        DEMO / 'fcn_tiny_demo-symmetric-b.py'))
    ap.add_argument('--rounds', type=positive_int, default=2,
                    help='1 = adversarial only; each further round adds '
                    'pseudo labels')
    ap.add_argument('--threshold', type=float, default=0.9,
                    help='confidence above which a pixel gets a pseudo '
                    'label')
    ap.add_argument('--pl-weight', type=float, default=1.0)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--max-iters', type=positive_int, default=None)
    ap.add_argument('--work-dir', default='work_dirs/symmetric')
    ap.add_argument('--cfg-options', nargs='+', default=[],
                    help='passed to every training')
    ap.add_argument('--jobs', type=int, choices=(1, 2), default=1,
                    help='2: train models A and B of a round side by side, '
                    'the cores split between them')
    args = ap.parse_args(argv)
    for key in ('source_root', 'target_root'):
        if not Path(getattr(args, key)).is_dir():
            _fail(f'{key.replace("_", " ")} folder does not exist: '
                  f'{getattr(args, key)}')
    for key in ('bundle', 'target_bundle', 'config_a', 'config_b'):
        if not Path(getattr(args, key)).is_file():
            _fail(f'--{key.replace("_", "-")} not found: '
                  f'{getattr(args, key)}')
    if not 0.0 < args.threshold < 1.0:
        _fail('--threshold must be in (0, 1)')
    return args


def round_config(args, name: str, r: int, work: Path) -> Path:
    """The config of model ``name`` in round ``r``, written for the record
    (what ran is what the file says)."""
    from mmengine.config import Config
    cfg = Config.fromfile(args.config_a if name == 'A' else args.config_b)
    if r > 0:
        cfg.train_dataloader.dataset.target_pseudo_labels = str(
            work / f'round{r}' / 'pseudo_labels')
        cfg.model.methods = list(cfg.model.methods) + [
            dict(type='TargetPseudoLabels', weight=args.pl_weight)]
        cfg.model.segmentor.init_cfg = dict(
            type='Pretrained',
            checkpoint=str(work / f'round{r - 1}' / name / 'segmentor.pth'))
    path = work / f'round{r}' / f'{name}_config.py'
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(path))
    return path


def train(args, name: str, r: int, work: Path,
          config: Optional[Path]) -> dict:
    """Model ``name`` of round ``r`` trained with ``config`` (a
    tools/train_uda.py run; skipped when finished, then ``config`` is
    None; resumed when interrupted)."""
    out = work / f'round{r}' / name
    done = out / 'segmentor.pth'
    if not done.exists():
        flag = ['--bundle', args.bundle] if name == 'A' else \
            ['--target-bundle', args.target_bundle]
        cmd = [*subcommand('train-uda'),
               str(config), '--work-dir', str(out), '--source-root',
               args.source_root, '--target-root', args.target_root,
               '--seed', str(args.seed), *flag]
        if args.max_iters:
            cmd += ['--max-iters', str(args.max_iters)]
        if (out / 'last_checkpoint').exists():
            cmd.append('--resume')
        if args.cfg_options:
            cmd += ['--cfg-options', *args.cfg_options]
        print(f'round {r}: training model {name} -> {out}', flush=True)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / 'train_uda.log', 'w') as log:
            res = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
        if res.returncode != 0:
            _fail(f'training of model {name} (round {r}) failed, see '
                  f'{out / "train_uda.log"}')
    import torch
    meta = torch.load(done, weights_only=True)['meta']
    return dict(config=str(out / 'segmentor_config.py'),
                checkpoint=str(done), mIoU=meta.get('mIoU'))


def members(a: dict, b: dict, args) -> list:
    return [dict(config=a['config'], checkpoint=a['checkpoint']),
            dict(config=b['config'], checkpoint=b['checkpoint'],
                 translation=dict(checkpoint=args.target_bundle))]


def pseudo_labels(args, a: dict, b: dict, r: int, work: Path) -> dict:
    """Consistency pseudo labels of the target train split for round r."""
    from mmengine.config import Config
    from mmseg.registry import DATASETS

    from dakpn_aug.uda import strip_target_labels
    from dakpn_aug.uda.symmetric import FusionSegmentor, write_pseudo_labels
    out = work / f'round{r}' / 'pseudo_labels'
    done = out / 'pseudo_labels.json'
    if done.exists():
        return json.loads(done.read_text())
    print(f'round {r}: pseudo labels of the target train split -> {out}',
          flush=True)
    cfg = Config.fromfile(args.config_a)
    target = dict(cfg.train_dataloader.dataset.target)
    target['data_root'] = args.target_root
    target['with_labels'] = False
    test = cfg.get('test_pipeline') or cfg.val_dataloader.dataset.pipeline
    target['pipeline'] = strip_target_labels(test)
    dataset = DATASETS.build(target)
    fusion = FusionSegmentor(members(a, b, args))

    def progress(i, n):
        if i == n or i % max(1, n // 10) == 0:
            print(f'  {i}/{n}', flush=True)

    stats = write_pseudo_labels(fusion, dataset, out, args.threshold,
                                progress)
    done.write_text(json.dumps(stats, indent=2))
    return stats


def evaluate_fusion(args, a: dict, b: dict, work: Path) -> dict:
    from mmengine.config import Config
    from mmengine.runner import Runner

    from dakpn_aug.uda.symmetric import fusion_config
    cfg = Config.fromfile(args.config_a)
    for key in ('val_dataloader',):
        cfg[key].dataset.data_root = args.target_root
    fcfg = fusion_config(members(a, b, args), cfg, str(work / 'fusion'))
    fcfg.dump(str(work / 'fusion_config.py'))
    runner = Runner.from_cfg(fcfg)
    return runner.test()


def main(argv=None) -> int:
    args = parse_args(argv)
    import dakpn_aug.mmseg  # noqa: F401  (registers the models)
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = dict(rounds=[], threshold=args.threshold, seed=args.seed)
    a = b = None
    if args.jobs > 1 and 'OMP_NUM_THREADS' not in os.environ:
        # The two trainings share the cores (the training tools read
        # OMP_NUM_THREADS), as in tools/benchmark_downstream.py --jobs.
        os.environ['OMP_NUM_THREADS'] = str(
            max(1, (os.cpu_count() or 1) // args.jobs))
    for r in range(args.rounds):
        if r > 0:
            results['rounds'][-1]['pseudo_labels'] = pseudo_labels(
                args, a, b, r, work)
        # A and B of a round are independent: both start from the last
        # round's pseudo labels and their own last segmentor. Their configs
        # are written here (mmengine's Config.fromfile is not thread-safe).
        configs = {name: round_config(args, name, r, work) for name in 'AB'
                   if not (work / f'round{r}' / name /
                           'segmentor.pth').exists()}
        with ThreadPoolExecutor(args.jobs) as pool:
            a, b = pool.map(lambda name: train(args, name, r, work,
                                               configs.get(name)), 'AB')
        results['rounds'].append(dict(A=a['mIoU'], B=b['mIoU']))
        print(f'round {r}: mIoU A {a["mIoU"]}, B {b["mIoU"]}', flush=True)
    metrics = evaluate_fusion(args, a, b, work)
    results.update(single=a['mIoU'], single_B=b['mIoU'],
                   fusion=float(metrics.get('mIoU')))
    (work / 'results.json').write_text(json.dumps(results, indent=2))
    print(f'fusion mIoU {results["fusion"]:.2f} (model A {a["mIoU"]}, '
          f'model B {b["mIoU"]}); {work / "results.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
