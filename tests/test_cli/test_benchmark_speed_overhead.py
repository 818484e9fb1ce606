"""The benchmark scripts run (smoke tests; their numbers go in the README,
never into assertions about speed)."""
import subprocess
import sys
from pathlib import Path

import torch

from dakpn_aug import DAKPNTranslator

ROOT = Path(__file__).resolve().parents[2]


def test_overhead_benchmark_runs(tmp_path):
    DAKPNTranslator.build('fcn_tiny').save(tmp_path / 'b.pth')
    res = subprocess.run(
        [sys.executable, 'tools/benchmark_overhead.py', str(tmp_path / 'b.pth'),
         '--model', 'fcn_tiny', '--size', '64x96', '--batch', '2',
         '--repeats', '1', '--device', 'cpu'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '| DAKPNSegDataPreProcessor (on cpu) |' in res.stdout
    assert '| plain SegDataPreProcessor |' in res.stdout


def test_speed_benchmark_quick_runs(tmp_path):
    res = subprocess.run(
        [sys.executable, 'tools/benchmark_speed.py', '--quick', '--device',
         'cpu', '--encoder', 'fcn_tiny', '--quiet-wait', '0', '--retries',
         '0', '--out', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    md = (tmp_path / 'speed.md').read_text()
    assert 'translate: typical' in md and 'naive per-pixel kernels' in md
    assert (tmp_path / 'speed.json').is_file()
