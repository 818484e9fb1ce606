"""The symmetric recipe: consistency pseudo labels, pseudo labels through
the target pipeline (never the target's own labels), the fusion segmentor,
the reverse DA-KPN, and tools/train_symmetric.py end to end (resumable)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import dakpn_aug  # noqa: F401
import dakpn_aug.mmseg  # noqa: F401
from dakpn_aug.uda.symmetric import consistency_pseudo_labels

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parents[2]
SMALL = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False',
         'model.methods.0.base_channels=8']


def test_consistency_pseudo_labels():
    a = torch.tensor([0.9, 0.1, 0.6, 0.5])  # P(class 0) of A per pixel
    b = torch.tensor([0.9, 0.1, 0.0, 0.5])
    pa = torch.stack([a, 1 - a])[None, :, None]  # (1, 2, 1, 4)
    pb = torch.stack([b, 1 - b])[None, :, None]
    labels, conf = consistency_pseudo_labels(pa, pb, threshold=0.8)
    # pixel 0: agree, fused 0.9 -> conf (0.9 + 1) / 2 = 0.95 -> class 0
    # pixel 1: agree on class 1 -> 0.95; pixel 2: fused (0.3, 0.7),
    # consistency 1 - 0.6 = 0.4 -> 0.55 -> none; pixel 3: 0.5 and agree ->
    # (0.5 + 1) / 2 = 0.75 -> none
    torch.testing.assert_close(conf[0, 0],
                               torch.tensor([0.95, 0.95, 0.55, 0.75]))
    assert labels[0, 0].tolist() == [0, 1, 255, 255]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from dakpn_aug.data.demo import make_demo_data
    root = tmp_path_factory.mktemp('sym')
    make_demo_data(root, seed=2, num_source=4, num_real_train=3,
                   num_real_val=2, source_size=(96, 160),
                   real_size=(96, 160))
    return root


def write_labels(data, out, value):
    out = Path(out)
    for img in (data / 'cityscapes' / 'leftImg8bit' / 'train').rglob(
            '*_leftImg8bit.png'):
        rel = img.relative_to(data / 'cityscapes' / 'leftImg8bit' / 'train')
        dst = out / str(rel).replace('_leftImg8bit.png',
                                     '_gtFine_labelTrainIds.png')
        dst.parent.mkdir(parents=True, exist_ok=True)
        lbl = np.full((96, 160), value, np.uint8)
        lbl[:, :80] = 255
        cv2.imwrite(str(dst), lbl)
    return out


def test_pseudo_labels_travel_with_the_target_image(data, tmp_path):
    from test_framework import build, load_cfg
    pl = write_labels(data, tmp_path / 'pl', 7)
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', data)
    cfg.train_dataloader.dataset.target_pseudo_labels = str(pl)
    _, _, ds = build(cfg)
    flips = set()
    for i in range(8):
        t = ds[i]['target']['data_samples']
        assert 'gt_sem_seg' not in t
        lbl = t.pseudo_sem_seg.data[0]
        assert set(lbl.unique().tolist()) == {7, 255}
        # The labelled half moves with the image's flip.
        flips.add(bool(lbl[0, -1] == 7))
    assert flips == {True, False}
    # The target's own label folder is refused as pseudo labels.
    cfg.train_dataloader.dataset.target_pseudo_labels = str(
        data / 'cityscapes' / 'gtFine' / 'train')
    with pytest.raises(dakpn_aug.DAKPNInputError, match='own label'):
        build(cfg)


def test_target_pseudo_label_loss(data, tmp_path):
    from test_framework import batch_of, build, load_cfg
    pl = write_labels(data, tmp_path / 'pl', 3)
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', data,
                   methods=[dict(type='TargetPseudoLabels')])
    cfg.train_dataloader.dataset.target_pseudo_labels = str(pl)
    model, optim, ds = build(cfg)
    log = model.train_step(batch_of(ds, [0, 1]), optim)
    assert log['loss_pl'] > 0
    assert float(log['pl_labelled']) == pytest.approx(0.5)
    # Without pseudo labels the method refuses instead of doing nothing.
    cfg.train_dataloader.dataset.target_pseudo_labels = None
    model, optim, ds = build(cfg)
    with pytest.raises(dakpn_aug.DAKPNInputError, match='pseudo labels'):
        model.train_step(batch_of(ds, [0, 1]), optim)


@pytest.fixture(scope='module')
def bundles(tmp_path_factory, tiny_translator, data):
    root = tmp_path_factory.mktemp('sym_bundles')
    tiny_translator.save(root / 's2t.pth')
    res = subprocess.run(
        [sys.executable, 'tools/train_dakpn.py',
         str(ROOT / 'mmseg_configs' / 'demo' / 'dakpn_demo.py'),
         '--work-dir', str(root / 'rev'), '--source-root',
         str(data / 'gta5'), '--target-root', str(data / 'cityscapes'),
         '--max-iters', '1', '--reverse', '--cfg-options',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'model.discriminator.base_channels=8', 'model.feature_cache_size=0',
         'train_dataloader.dataset.max_source=None'],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / 's2t.pth', root / 'rev' / 'dakpn_bundle.pth'


def test_reverse_dakpn_records_its_direction(bundles):
    b = torch.load(bundles[1], weights_only=True)
    extra = json.loads(b['meta_json'])['extra']
    assert extra['direction'] == 'target->source'


def test_fusion_of_a_model_with_itself_is_that_model(data, tmp_path):
    from test_framework import build, load_cfg

    from dakpn_aug.uda import export_segmentor
    from dakpn_aug.uda.symmetric import FusionSegmentor
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', data)
    model, _, _ = build(cfg)
    ckpt, config = export_segmentor(model, cfg, tmp_path)
    member = dict(config=str(config), checkpoint=str(ckpt))
    fusion = FusionSegmentor([member, member])
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS
    cfg.val_dataloader.dataset.data_root = str(data / 'cityscapes')
    val = DATASETS.build(cfg.val_dataloader.dataset)
    batch = pseudo_collate([val[0]])
    fused = fusion.test_step(batch)[0].pred_sem_seg.data
    single = fusion.members[0].test_step(batch)[0].pred_sem_seg.data
    assert torch.equal(fused, single)


def test_train_symmetric_end_to_end_and_resumable(data, bundles, tmp_path):
    s2t, t2s = bundles
    cmd = [sys.executable, 'tools/train_symmetric.py', '--source-root',
           str(data / 'gta5'), '--target-root', str(data / 'cityscapes'),
           '--bundle', str(s2t), '--target-bundle', str(t2s), '--rounds',
           '2', '--max-iters', '2', '--threshold', '0.3', '--work-dir',
           str(tmp_path / 'w'), '--jobs', '2', '--cfg-options', *SMALL]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    out = json.loads((tmp_path / 'w' / 'results.json').read_text())
    assert len(out['rounds']) == 2 and 0 <= out['fusion'] <= 100
    assert out['rounds'][0]['pseudo_labels']['images'] == 3
    pl = list((tmp_path / 'w' / 'round1' / 'pseudo_labels').rglob(
        '*_gtFine_labelTrainIds.png'))
    assert len(pl) == 3
    a1 = (tmp_path / 'w' / 'round1' / 'A_config.py').read_text()
    assert 'TargetPseudoLabels' in a1 and 'round0/A/segmentor.pth' in a1
    b0 = (tmp_path / 'w' / 'round0' / 'B_config.py').read_text()
    assert 'target_translation' in b0
    # Rerun: every step is done, nothing trains again.
    t0 = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=900)
    assert res.returncode == 0 and 'training model' not in res.stdout
    assert time.time() - t0 < 120
