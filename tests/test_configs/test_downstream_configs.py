"""Downstream mmseg training with each DA-KPN front door, through the real
mmseg Runner for a few iterations (labels stay the dataset's own)."""
from pathlib import Path

import pytest
import torch

from dakpn_aug import DAKPNTranslator
from dakpn_aug.data.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'mmseg_configs' / 'downstream' / 'demo'


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp('down')
    make_demo_data(root / 'data', seed=5, num_source=4, num_real_train=2,
                   num_real_val=2)
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny')
    with torch.no_grad():
        tr.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.1, 0, 0, 0, 1., 1., 1., .05, .05, .05]))
    tr.save(root / 'bundle.pth')
    return root


def run(name, env, tmp_path):
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner

    from dakpn_aug.engine.launch import set_max_iters
    cfg = Config.fromfile(str(CFG / name))
    cfg.work_dir = str(tmp_path / 'wd')
    set_max_iters(cfg, 2)
    cfg.train_cfg.val_interval = 2
    tl, vl = cfg.train_dataloader, cfg.val_dataloader
    for dl in (tl, vl):
        dl.num_workers = 0
        dl.persistent_workers = False
    tl.batch_size = 2
    data = env / 'data'
    tl.dataset.data_root = str(data / ('cityscapes' if 'target' in name
                                       else 'gta5'))
    vl.dataset.data_root = str(data / 'cityscapes')
    for t in tl.dataset.pipeline:
        if t['type'] == 'DAKPNTranslate':
            t['checkpoint'] = str(env / 'bundle.pth')
        if t['type'] == 'PeerTranslate':
            t['reference_root'] = str(data / 'cityscapes')
    if cfg.model.data_preprocessor.type == 'DAKPNSegDataPreProcessor':
        cfg.model.data_preprocessor.checkpoint = str(env / 'bundle.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('name', [
    'fcn_tiny_demo-source-only.py', 'fcn_tiny_demo-dakpn-pipeline.py',
    'fcn_tiny_demo-dakpn-gpu.py', 'fcn_tiny_demo-target-only.py',
    'fcn_tiny_demo-photometric.py', 'fcn_tiny_demo-dakpn-photometric.py',
    'fcn_tiny_demo-fda.py', 'fcn_tiny_demo-histogram-matching.py',
    'fcn_tiny_demo-pixel-distribution.py'
])
def test_downstream_demo_config_trains_and_validates(name, env, tmp_path):
    runner = run(name, env, tmp_path)
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    assert 'val/mIoU' in scalars
    types = [t['type'] for t in runner.cfg.train_dataloader.dataset.pipeline]
    pre = runner.model.data_preprocessor
    if 'pipeline' in name:
        assert 'DAKPNTranslate' in types
    if 'photometric' in name:
        assert 'PhotoMetricDistortion' in types
    if 'dakpn-photometric' in name:  # translate first, then jitter
        assert types.index('DAKPNTranslate') < types.index(
            'PhotoMetricDistortion')
    if 'gpu' in name:
        assert type(pre).__name__ == 'DAKPNSegDataPreProcessor'
        from dakpn_aug import runtime
        assert any(str(env / 'bundle.pth') == k[1] for k in runtime._CACHE)
    if name.endswith(('fda.py', 'matching.py', 'distribution.py')):
        assert 'PeerTranslate' in types and 'DAKPNTranslate' not in types
    if 'source-only' in name or 'target-only' in name:
        assert 'DAKPNTranslate' not in types
        assert type(pre).__name__ == 'SegDataPreProcessor'
