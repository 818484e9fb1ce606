"""tools/train_segmentor.py: end to end for a few iterations (encoder.pth that
SemanticEncoder loads, with the trained weights), --resume, --data-root
layouts and errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dakpn_aug  # noqa: F401  (before mmseg)
from dakpn_aug.data.cityscapes_labels import TRAIN_CLASSES
from dakpn_aug.data.demo import make_demo_data

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'train_segmentor.py'
DEMO_CFG = REPO / 'mmseg_configs' / 'demo' / 'encoder_demo.py'
# Single-process data loading and tiny batches keep each run to seconds.
FAST = ['train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.batch_size=2',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('encdata')
    make_demo_data(root, num_source=6, num_real_train=4, num_real_val=2,
                   source_size=(64, 96), real_size=(64, 128))
    return root


@pytest.fixture(scope='module')
def tool():
    from dakpn_aug.cli import train_segmentor
    return train_segmentor


def run(*args, timeout=300):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run([sys.executable, str(TOOL), *map(str, args)],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_train_export_and_resume(data, tmp_path):
    from dakpn_aug.models import SemanticEncoder
    wd = tmp_path / 'wd'
    out = run(DEMO_CFG, '--data-root', data / 'gta5', '--work-dir', wd,
              '--max-iters', 2, '--cfg-options', *FAST)
    path = wd / 'encoder.pth'
    assert f'encoder: {path}' in out
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['iterations'] == 2 and meta['config'] == 'encoder_demo.py'
    assert meta['classes'] == list(TRAIN_CLASSES)
    assert isinstance(meta['mIoU'], float) and meta['val_iteration'] == 2
    assert meta['encoder_input_size'] == [96, 160]
    state = ckpt['state_dict']
    assert all(isinstance(v, torch.Tensor) and v.device.type == 'cpu'
               for v in state.values())

    # The trained weights: equal to the run's own last checkpoint ...
    runner_ckpt = torch.load(wd / 'iter_2.pth', map_location='cpu',
                             weights_only=False)
    assert runner_ckpt['state_dict'].keys() == state.keys()
    for k, v in runner_ckpt['state_dict'].items():
        assert torch.equal(v, state[k]), k
    # ... and what SemanticEncoder loads.
    enc = SemanticEncoder('fcn_tiny', checkpoint=str(path))
    loaded = enc.segmentor.state_dict()
    assert loaded.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(loaded[k], v), k
    fresh = SemanticEncoder('fcn_tiny').segmentor.state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in state.items()
               if v.is_floating_point())
    assert enc(torch.rand(1, 3, 64, 96)).shape == (1, 19, 96, 160)

    # --resume continues from iteration 2 up to 4.
    out = run(DEMO_CFG, '--data-root', data / 'gta5', '--work-dir', wd,
              '--max-iters', 4, '--resume', '--cfg-options', *FAST)
    assert 'resumed epoch: 0, iter: 2' in out
    assert (wd / 'iter_4.pth').is_file()
    meta = torch.load(path, weights_only=True)['meta']
    assert meta['iterations'] == 4 and meta['val_iteration'] == 4


def test_data_root_layouts(tool, data):
    from mmengine.config import ConfigDict
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    import dakpn_aug.mmseg  # noqa: F401
    cfg = tool.build_config(tool.parse_args(
        [str(DEMO_CFG), '--data-root', str(data / 'gta5'), '--max-iters',
         '60']))
    tr, va = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert (tr.type, tr.data_root, tr.subset) == (
        'GTA5Dataset', str(data / 'gta5'), 'train')
    assert (va.type, va.data_root, va.subset) == (
        'GTA5Dataset', str(data / 'gta5'), 'holdout')
    # The LR schedule follows --max-iters (warm-up 30/600, poly to the end).
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 3),
                                                               (3, 60)]
    assert cfg.train_cfg.val_interval == 60

    # A Cityscapes-layout root: train on its train split, validate on val.
    cfg = tool.build_config(tool.parse_args(
        [str(DEMO_CFG), '--data-root', str(data / 'cityscapes')]))
    tr, va = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert tr.type == va.type == 'CityscapesLabelIdsDataset'
    assert tr.data_prefix.img_path == 'leftImg8bit/train'
    assert va.data_prefix.seg_map_path == 'gtFine/val'
    assert tr.pipeline == cfg.train_pipeline
    assert cfg.test_dataloader.dataset == va
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert len(DATASETS.build(ConfigDict(tr))) == 4
        assert len(DATASETS.build(ConfigDict(va))) == 2

    # GTA5 training root + real validation root (the paper's DA-KPN-S).
    cfg = tool.build_config(tool.parse_args(
        [str(REPO / 'mmseg_configs/fcn_r50-d8_gta5-96x160_encoder.py'),
         '--data-root', str(data / 'gta5'), '--val-data-root',
         str(data / 'cityscapes')]))
    assert cfg.train_dataloader.dataset.data_root == str(data / 'gta5')
    va = cfg.val_dataloader.dataset
    assert (va.type, va.data_root) == ('CityscapesLabelIdsDataset',
                                       str(data / 'cityscapes'))
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.norm_cfg.type == 'BN'


def test_data_root_errors(tool, data, tmp_path):
    def fails(*argv):
        with pytest.raises(SystemExit) as e:
            tool.build_config(tool.parse_args([str(DEMO_CFG), *argv]))
        return str(e.value)

    missing = tmp_path / 'nope'
    msg = fails('--data-root', str(missing))
    assert 'does not exist' in msg and str(missing) in msg
    (tmp_path / 'odd').mkdir()
    msg = fails('--data-root', str(tmp_path / 'odd'))
    assert 'GTA5-layout' in msg and str(tmp_path / 'odd') in msg
    msg = fails('--val-data-root', str(missing))
    assert str(missing) in msg
    assert 'config file not found' in str(pytest.raises(
        SystemExit, tool.build_config,
        tool.parse_args([str(tmp_path / 'x.py')])).value)


def test_bad_dataset_is_a_clean_error(data, tmp_path):
    """A data problem found while building the run is one clear line."""
    root = tmp_path / 'gta5'
    (root / 'images').mkdir(parents=True)
    (root / 'labels').mkdir()
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(DEMO_CFG), '--data-root', str(root),
         '--work-dir', str(tmp_path / 'wd'), '--max-iters', '1',
         '--cfg-options', *FAST], cwd=REPO, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    assert 'train_segmentor: error: ' in proc.stderr
    assert f'no images ending in \'.png\' found in ' \
           f'{root / "images"}' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_corrupt_image_or_missing_pretrained_is_one_clear_error(
        data, tmp_path, tool, tool_error):
    import shutil
    root = tmp_path / 'gta5'
    shutil.copytree(data / 'gta5', root)
    victim = sorted((root / 'images').iterdir())[0]
    victim.write_bytes(b'not a png at all')
    base = [DEMO_CFG, '--data-root', root, '--work-dir', tmp_path / 'wd',
            '--max-iters', '3', '--cfg-options', *FAST,
            'train_dataloader.batch_size=6']
    err = tool_error(tool.main, base)
    assert 'corrupt or unreadable' in err and victim.name in err
    err = tool_error(tool.main,
                     base[:-1] + [f'load_from={tmp_path / "missing.pth"}'])
    assert 'missing.pth' in err


def test_misspelt_config_key_is_one_clear_error(data, tmp_path, tool,
                                                tool_error):
    """A key its module does not take (a misspelt --cfg-options key) is one
    line naming it, as in tools/train_dakpn.py and tools/train_uda.py (the
    three tools share train_with_clear_errors)."""
    err = tool_error(tool.main, [
        DEMO_CFG, '--data-root', data / 'gta5', '--work-dir', tmp_path / 'wd',
        '--max-iters', '1', '--cfg-options', *FAST,
        'model.decode_head.num_clases=3'])
    assert err.startswith('train_segmentor: error')
    assert 'num_clases' in err and 'misspelt' in err


@pytest.mark.slow
def test_paper_encoder_config_trains_a_step(data, tmp_path):
    """The paper's encoder config (FCN-R50-D8 at 96x160 on GTA5) takes a
    real step on files in the real layouts, validates on Cityscapes-layout
    files, and exports an encoder.pth the R50 preset loads (the DA-KPN-T
    config differs only in its training dataset, CityscapesLabelIdsDataset,
    which the validation runs)."""
    name, root = 'fcn_r50-d8_gta5-96x160_encoder.py', 'gta5'
    from dakpn_aug.models import SemanticEncoder
    wd = tmp_path / 'wd'
    run(REPO / 'mmseg_configs' / name, '--data-root', data / root,
        '--val-data-root', data / 'cityscapes', '--work-dir', wd,
        '--max-iters', 1, '--cfg-options', *FAST, 'train_cfg.val_interval=1',
        timeout=600)
    ckpt = torch.load(wd / 'encoder.pth', weights_only=True)
    assert ckpt['meta']['iterations'] == 1
    assert isinstance(ckpt['meta']['mIoU'], float)
    enc = SemanticEncoder('fcn_r50-d8', checkpoint=str(wd / 'encoder.pth'))
    assert enc(torch.rand(1, 3, 64, 96)).shape == (1, 19, 96, 160)


def test_no_cast_encoder_ablation_config_trains(data, tmp_path):
    """The demo encoder has the white-balance cast augmentation; its
    ablation config is the same pipeline without it, and builds and trains
    a few iterations."""
    from mmengine.config import Config
    types = [t['type'] for t in Config.fromfile(DEMO_CFG).train_pipeline]
    assert types.index('RandomColorCast') < types.index('Resize')
    cfg = DEMO_CFG.with_name('encoder_demo_no-cast.py')
    ablation = [t['type'] for t in Config.fromfile(cfg).train_pipeline]
    assert ablation == [t for t in types if t != 'RandomColorCast']
    out = run(cfg, '--data-root', data / 'gta5', '--work-dir', tmp_path,
              '--max-iters', 2, '--cfg-options', *FAST)
    assert f'encoder: {tmp_path / "encoder.pth"}' in out
