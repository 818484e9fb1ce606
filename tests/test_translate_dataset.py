"""Offline translation tool: layout kept, labels untouched, atomic and
resumable, sharding covers every file exactly once."""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNTranslator
from dakpn_aug.data.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[1]
TOOL = [sys.executable, str(ROOT / 'tools' / 'translate_dataset.py')]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('offline')
    make_demo_data(root / 'data', seed=4, num_source=10, num_real_train=2,
                   num_real_val=2, source_size=(64, 96), real_size=(64, 128))
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny')
    with torch.no_grad():
        tr.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.1, 0, 0, .02, 1.0, 1.0, 1.0, .05, .05, .05]))
    bundle = root / 'bundle.pth'
    tr.save(bundle)
    return root, bundle


def run(args, check=True):
    res = subprocess.run(TOOL + [str(a) for a in args], capture_output=True,
                         text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def listing(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*'))


def test_translates_everything_keeps_names_and_labels(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    before = {p: p.read_bytes() for p in src.rglob('*') if p.is_file()}
    out = tmp_path / 'out'
    res = run([bundle, src, out, '--labels', 'copy', '--batch-size', '3'])
    assert '10 translated, 0 skipped' in res.stdout
    assert listing(out) == listing(src)
    for p in (src / 'labels').iterdir():
        assert (out / 'labels' / p.name).read_bytes() == p.read_bytes()
    # Same pixels as translating in Python with the bundle.
    tr = DAKPNTranslator.from_checkpoint(bundle)
    name = '00003.png'
    rgb = cv2.cvtColor(cv2.imread(str(src / 'images' / name)),
                       cv2.COLOR_BGR2RGB)
    got = cv2.cvtColor(cv2.imread(str(out / 'images' / name)),
                       cv2.COLOR_BGR2RGB)
    assert np.array_equal(got, tr(rgb))
    assert not np.array_equal(got, rgb)
    # The source is untouched.
    assert {p: p.read_bytes() for p in src.rglob('*') if p.is_file()} == \
        before


def test_labels_link_and_cityscapes_layout(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'cityscapes'
    out = tmp_path / 'cs'
    run([bundle, src, out, '--labels', 'link'])
    imgs = sorted((out / 'leftImg8bit').rglob('*_leftImg8bit.png'))
    assert len(imgs) == 4
    lbl = next((out / 'gtFine').rglob('*_gtFine_labelIds.png'))
    assert lbl.is_symlink()
    assert lbl.resolve().is_relative_to(src.resolve())


def test_rerun_skips_finished_and_resumes_after_a_kill(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'out'
    proc = subprocess.Popen(TOOL + [str(bundle), str(src), str(out),
                                    '--batch-size', '1', '--workers', '0'],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / 'images').is_dir() and any(
                p.suffix == '.png' and not p.name.startswith('.')
                for p in (out / 'images').iterdir()):
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    # Whatever is visible is complete.
    for p in (out / 'images').glob('[!.]*.png'):
        assert cv2.imread(str(p)) is not None, p
    done_before = len(list((out / 'images').glob('[!.]*.png')))
    res = run([bundle, src, out])
    assert f'{done_before} already done' in res.stdout
    assert len(list((out / 'images').glob('[!.]*.png'))) == 10
    res = run([bundle, src, out])
    assert '0 translated, 10 skipped' in res.stdout


def test_refuses_to_write_into_the_source(setup):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    before = listing(src)
    for out in (src, src / 'translated', src / 'images'):
        res = run([bundle, src, out], check=False)
        assert res.returncode != 0 and 'inside it' in res.stderr
    assert listing(src) == before
    res = run([bundle, root / 'missing', root / 'o'], check=False)
    assert 'does not exist' in res.stderr
    res = run([root / 'nope.pth', src, root / 'o2'], check=False)
    assert 'nope.pth' in res.stderr and 'does not exist' in res.stderr


def test_two_shard_processes_cover_every_file_exactly_once(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'sharded'
    procs = [subprocess.Popen(TOOL + [str(bundle), str(src), str(out),
                                      '--shard', f'{i}/2', '--workers', '0'],
                              stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL) for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert '5 translated' in outs[0] and '5 translated' in outs[1]
    assert len(list((out / 'images').glob('*.png'))) == 10


def test_torchrun_launcher_shards_by_rank(setup, tmp_path):
    root, bundle = setup
    torchrun = Path(sys.executable).with_name('torchrun')
    out = tmp_path / 'ddp'
    res = subprocess.run([str(torchrun), '--standalone', '--nproc_per_node=2',
                          str(ROOT / 'tools' / 'translate_dataset.py'),
                          str(bundle), str(root / 'data' / 'gta5'), str(out),
                          '--launcher', 'pytorch', '--workers', '0'],
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count('5 translated') == 2
    assert len(list((out / 'images').glob('*.png'))) == 10
