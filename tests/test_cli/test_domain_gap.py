"""tools/domain_gap.py: statistics, gap closure, table and JSON."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dakpn_aug.data.demo import make_demo_data
from dakpn_aug.domain_stats import gap_closed, image_stats

ROOT = Path(__file__).resolve().parents[2]


def test_image_stats_move_in_the_expected_direction():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = (200, 40, 40)
    img[:, 32:] = (40, 40, 200)
    base = image_stats(img)
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY),
                        cv2.COLOR_GRAY2RGB)
    assert image_stats(grey)['saturation'] < base['saturation'] - 0.3
    # Blur keeps the total variation of a single step; a fine texture
    # loses it.
    checker = ((np.indices((64, 64)).sum(0) // 2) % 2 * 200).astype(np.uint8)
    checker = np.repeat(checker[..., None], 3, axis=2)
    blurred = cv2.GaussianBlur(checker, (0, 0), 2)
    assert image_stats(blurred)['edge_strength'] < \
        0.5 * image_stats(checker)['edge_strength']
    noisy = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(
        np.uint8)
    assert image_stats(noisy)['noise_level'] > base['noise_level'] + 0.01
    assert image_stats(img // 2)['brightness'] < base['brightness']
    with pytest.raises(ValueError):
        image_stats(img.astype(np.float32))


def test_gap_closed_definition():
    s, r = dict(saturation=0.4), dict(saturation=0.2)
    assert gap_closed(s, dict(saturation=0.4), r, ['saturation'])[
        'saturation'] == 0
    assert gap_closed(s, dict(saturation=0.2), r, ['saturation'])[
        'saturation'] == 1
    assert gap_closed(s, dict(saturation=0.3), r, ['saturation'])[
        'mean'] == pytest.approx(0.5)
    assert gap_closed(s, dict(saturation=0.5), r, ['saturation'])[
        'saturation'] < 0


def test_domain_gap_cli(tmp_path):
    make_demo_data(tmp_path / 'd', seed=0, num_source=4, num_real_train=4,
                   num_real_val=1, source_size=(64, 96), real_size=(64, 128))
    src = tmp_path / 'd' / 'gta5' / 'images'
    real = tmp_path / 'd' / 'cityscapes' / 'leftImg8bit' / 'train'
    same = tmp_path / 'same'
    shutil.copytree(src, same)
    out = tmp_path / 'gap.json'
    res = subprocess.run([sys.executable, 'tools/domain_gap.py', str(src),
                          str(same), str(real), '--out', str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert '| **mean** | | | | **0%** |' in res.stdout
    data = json.loads(out.read_text())
    assert data['source']['num_images'] == 4
    assert data['real']['num_images'] == 4
    assert data['source']['saturation'] > data['real']['saturation']
    res = subprocess.run([sys.executable, 'tools/domain_gap.py', str(src),
                          str(tmp_path / 'missing'), str(real)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'missing' in res.stderr


def test_domain_gap_unwritable_out_is_one_clear_error(tmp_path):
    make_demo_data(tmp_path / 'd', seed=0, num_source=2, num_real_train=2,
                   num_real_val=1, source_size=(64, 96), real_size=(64, 128))
    src = tmp_path / 'd' / 'gta5' / 'images'
    real = tmp_path / 'd' / 'cityscapes' / 'leftImg8bit' / 'train'
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    res = subprocess.run([sys.executable, 'tools/domain_gap.py', str(src),
                          str(src), str(real), '--out',
                          str(blocker / 'gap.json')],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0
    assert 'cannot write the report to' in res.stderr
    assert 'Traceback' not in res.stderr
