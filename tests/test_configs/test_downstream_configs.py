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


def run(name, env, tmp_path, shrink_to=None, iters=2):
    """Train ``name`` ``iters`` iterations (validating at the end) on the
    env's demo data; ``shrink_to=(h, w)`` resizes every image and the data
    preprocessor's crop to that size (paper-scale configs on a CPU)."""
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner

    from dakpn_aug.engine.launch import set_max_iters
    cfg = Config.fromfile(str(CFG / name))
    if shrink_to is not None:
        h, w = shrink_to
        for dl in (cfg.train_dataloader, cfg.val_dataloader):
            for t in dl.dataset.pipeline:
                if t['type'] == 'Resize':
                    t['scale'] = (w, h)
        cfg.model.data_preprocessor.size = (h, w)
    cfg.work_dir = str(tmp_path / 'wd')
    set_max_iters(cfg, iters)
    cfg.train_cfg.val_interval = iters
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


@pytest.mark.slow
@pytest.mark.parametrize('variant', ['dakpn-pipeline', 'dakpn-gpu'])
def test_paper_downstream_config_trains_and_validates(variant, env,
                                                      tmp_path):
    """The paper-scale configs (FCN-R50-D8, mmseg's schedule) take a real
    training step and validate, their images shrunk to 32x32 for a CPU (the
    dataset and model swaps of the other variants are the demo configs'):
    the composition (datasets, DA-KPN transform or preprocessor, model,
    optimiser, loops, metric) is what runs, not a restated value."""
    name = f'../fcn_r50-d8_gta2cityscapes-512x512_{variant}.py'
    runner = run(name, env, tmp_path, shrink_to=(32, 32), iters=1)
    assert runner.iter == 1
    assert 'val/mIoU' in runner.message_hub.log_scalars
    assert runner.model.backbone.depth == 50
    types = [t['type'] for t in runner.cfg.train_dataloader.dataset.pipeline]
    assert ('DAKPNTranslate' in types) == (variant == 'dakpn-pipeline')
    assert (type(runner.model.data_preprocessor).__name__ ==
            'DAKPNSegDataPreProcessor') == (variant == 'dakpn-gpu')
