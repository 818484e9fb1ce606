"""The benchmark scripts run (smoke tests; their numbers go in the README,
never into assertions about speed)."""
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from dakpn_aug import DAKPNTranslator

ROOT = Path(__file__).resolve().parents[2]


def test_overhead_benchmark_runs(tmp_path):
    DAKPNTranslator.build('fcn_tiny').save(tmp_path / 'b.pth')
    res = subprocess.run(
        [sys.executable, 'tools/benchmark_overhead.py',
         str(tmp_path / 'b.pth'), '--model', 'fcn_tiny', '--size', '64x96',
         '--batch', '2', '--repeats', '1', '--device', 'cpu'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '| DAKPNSegDataPreProcessor (on cpu) |' in res.stdout
    assert '| plain SegDataPreProcessor |' in res.stdout
    # Label guidance timed with labels that mostly agree with the encoder.
    assert 'label guidance: the labels disagree' not in res.stderr


def test_speed_benchmark_quick_runs(tmp_path):
    """--quick runs every case; --readme replaces only the marked table."""
    DAKPNTranslator.build('fcn_tiny').save(tmp_path / 'b.pth')
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(
        0, 256, (60, 100, 3), dtype=np.uint8))
    readme = tmp_path / 'README.md'
    readme.write_text('# x\n<!-- speed-table:start -->\nold table\n'
                      '<!-- speed-table:end -->\nafter\n')
    res = subprocess.run(
        [sys.executable, 'tools/benchmark_speed.py', '--quick', '--device',
         'cpu', '--encoder', 'fcn_tiny', '--retries', '0', '--out',
         str(tmp_path), '--readme', str(readme), '--bundle',
         str(tmp_path / 'b.pth'), '--bundle-image', str(image)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    md = (tmp_path / 'speed.md').read_text()
    for case in ('translate: identity', 'translate: typical',
                 'translate: full range', 'translate: trained bundle',
                 'encoder + translate',
                 'encoder (bfloat16) + translate',
                 'encoder + translate, label guidance',
                 'translate: typical, batch 8, per image',
                 'naive per-pixel kernels (90x160 crop)'):
        assert f'| cpu | {case} |' in md, case
    assert '360x640 / 180x320 = ' in md  # the linear-in-pixels ratio
    assert 'pixels (trained bundle; median' in md
    # The batch goal is judged on paired rounds of batch and single calls.
    assert re.search(r'\| <= batch 1: (met|NOT met) \(\d+\.\d\dx per image '
                     r'in paired rounds, IQR \d+\.\d\d\) \|', md)
    # The machine's state at the start and the end of the run.
    assert len(re.findall(r'page fault \d+\.\d+ us, 1024x1024 matmul '
                          r'\d+\.\d+ ms', md.splitlines()[0])) == 2
    # Peak memory measured at the largest size (a fresh process per case).
    mem = [line for line in md.splitlines()
           if line.startswith('| cpu | translate: typical | 360x640 |')]
    assert float(mem[0].split('|')[6]) > 0
    assert (tmp_path / 'speed.json').is_file()
    text = readme.read_text()
    assert 'old table' not in text and text.startswith('# x\n')
    assert text.endswith('<!-- speed-table:end -->\nafter\n')
    assert md in text


def test_gpu_throughput_case_runs_on_the_cpu():
    """The half-precision batched case the GPU goals are judged on runs
    unchanged on any device (here the CPU, bfloat16 batches)."""
    from dakpn_aug.cli.benchmark_speed import throughput_rows
    rows = throughput_rows('cpu', torch.bfloat16, 'fcn_tiny', batch=2,
                           repeats=1, sizes=((48, 80), (96, 160)))
    assert [r['case'] for r in rows] == [
        'translate, bfloat16, batch 2, per image',
        'encoder + translate, bfloat16, batch 2, per image',
        'encoder + translate, bfloat16, batch 1, per image']
    assert all(r['images_per_s'] > 0 and r['goal_time'] == ''
               for r in rows)
    # On the CPU the translation runs in float32: only the output's
    # rounding to bfloat16 differs: at most half a bfloat16 step below 1,
    # 2 ** -9 = 1.95e-3, printed to two digits.
    mean, worst = (float(x) for x in re.findall(
        r'[\d.]+e[-+]\d+', rows[0]['vs_float32']))
    assert 0 < mean <= worst <= 2.0e-3


def test_bfloat16_encoder_rows_only_where_bfloat16_is_native(monkeypatch):
    """Emulated bfloat16 (tens of times float32's matmul time) makes each
    bfloat16 encoder row take minutes: those rows are left out, with a
    note saying why, unless the CPU runs bfloat16 natively or the run is
    a smoke test."""
    from dakpn_aug.cli import benchmark_speed as bench
    assert bench.bfloat16_slowdown() > 0
    monkeypatch.setattr(bench, 'bfloat16_slowdown', lambda: 51.2)
    encoders, note = bench.encoder_dtypes('cpu', quick=False)
    assert encoders == ('',)
    assert note == ('encoder (bfloat16) rows not run: a bfloat16 matmul '
                    'takes 51x the float32 time on this CPU (no native '
                    'bfloat16)')
    assert bench.encoder_dtypes('cpu', quick=True) == (
        ('', ' (bfloat16)'), '')
    monkeypatch.setattr(bench, 'bfloat16_slowdown', lambda: 1.5)
    assert bench.encoder_dtypes('cpu', quick=False) == (
        ('', ' (bfloat16)'), '')
