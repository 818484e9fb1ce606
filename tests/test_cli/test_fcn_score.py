"""tools/fcn_score.py: a real-domain segmenter scored on translated images."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from dakpn_aug import DAKPNTranslator
from dakpn_aug.data.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'mmseg_configs' / 'downstream' / 'demo' / \
    'fcn_tiny_demo-target-only.py'


def py(*args):
    res = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    return res


def test_fcn_score_end_to_end(tmp_path, tool_error):
    make_demo_data(tmp_path / 'd', seed=6, num_source=3, num_real_train=2,
                   num_real_val=1)
    # A (barely) trained real-domain segmenter.
    res = py('tools/train_segmentor.py', CFG, '--work-dir', tmp_path / 'seg',
             '--data-root', tmp_path / 'd' / 'cityscapes', '--max-iters', 2)
    assert res.returncode == 0, res.stderr[-2000:]
    tr = DAKPNTranslator.build('fcn_tiny')
    with torch.no_grad():
        tr.kpn.conv.bias[1] = -0.3
    tr.save(tmp_path / 'b.pth')
    res = py('tools/translate_dataset.py', tmp_path / 'b.pth',
             tmp_path / 'd' / 'gta5', tmp_path / 'tr', '--labels', 'copy')
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / 'score.json'
    res = py('tools/fcn_score.py', CFG, tmp_path / 'seg' / 'encoder.pth',
             tmp_path / 'tr', '--work-dir', tmp_path / 'wd', '--out', out)
    assert res.returncode == 0, res.stderr[-2000:]
    score = json.loads(out.read_text())
    for k in ('pxAcc', 'clsAcc', 'mIoU'):
        assert 0.0 <= score[k] <= 100.0
    assert '| pxAcc | clsAcc | mIoU |' in res.stdout
    # Without copied labels there is nothing to score against.
    from dakpn_aug.cli.fcn_score import main
    assert 'labels/' in tool_error(main, [CFG, tmp_path / 'seg' /
                                          'encoder.pth',
                                          tmp_path / 'd' / 'cityscapes'])
