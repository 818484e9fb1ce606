"""Every shipped DA-KPN config parses and builds; face layouts load."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('name', [
    'dakpn_fcn-r50_gta2cityscapes-720x1280.py',
    'dakpn_fcn-r50_facesynthetics2celebamaskhq-512x512.py',
    'demo/dakpn_demo.py',
    'demo/dakpn_demo_paper.py',
    'demo/dakpn_demo_no-gan.py',
    'demo/dakpn_demo_no-noise-stat.py',
])
def test_dakpn_configs_build(name):
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config, ConfigDict
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(ROOT / 'mmseg_configs' / name))
    model = MODELS.build(ConfigDict(cfg.model))
    assert model.kpn.num_classes == model.encoder.num_classes
    if name == 'demo/dakpn_demo.py':  # the recipe has the noise statistic
        assert model.loss_weights['stats_noise'] == 1.0
        assert model.stats_loss.noise
    if name == 'demo/dakpn_demo_paper.py':  # GAN + identity losses only
        assert all(w == 0 for k, w in model.loss_weights.items()
                   if k.startswith('stats_'))
    if 'no-noise-stat' in name:
        assert model.loss_weights['stats_noise'] == 0.0
        assert not model.stats_loss.noise
    if 'face' in name:
        from dakpn_aug.data.face_labels import FACE_CLASSES
        assert model.encoder.num_classes == len(FACE_CLASSES)
        assert tuple(model.class_names) == tuple(FACE_CLASSES)
    if 'gta2cityscapes' in name:  # the paper's settings
        assert cfg.train_dataloader.batch_size == 8
        assert cfg.train_cfg.max_iters == 100000
        assert cfg.optim_wrapper.kpn.optimizer.lr == 1e-4
        assert cfg.train_dataloader.dataset.patch_scale == 8
        assert model.encoder.input_size == (96, 160)
        assert model.encoder.segmentor_cfg['backbone']['depth'] == 50


def test_unpaired_dataset_reads_face_layouts(tmp_path):
    from dakpn_aug.data.unpaired import UnpairedTranslationDataset
    fs = tmp_path / 'facesynthetics'
    fs.mkdir()
    for i in range(3):
        cv2.imwrite(str(fs / f'{i:06d}.png'),
                    np.full((64, 64, 3), 40 * i, np.uint8))
        cv2.imwrite(str(fs / f'{i:06d}_seg.png'), np.ones((64, 64), np.uint8))
    cel = tmp_path / 'celeba'
    (cel / 'CelebA-HQ-img').mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(cel / 'CelebA-HQ-img' / f'{i}.jpg'),
                    np.full((80, 80, 3), 200, np.uint8))
    ds = UnpairedTranslationDataset(fs, cel, low_res=(32, 32), patch_scale=2,
                                    target_size=(64, 64))
    assert [p.name for p in ds.source_files] == ['000000.png', '000001.png',
                                                 '000002.png']
    assert len(ds.target_files) == 2
    s = ds[0]
    assert s['source_patch'].shape[-2:] == (32 + 24, 32 + 24)
    assert torch.allclose(s['real_patch'], torch.full_like(s['real_patch'],
                                                           200 / 255), atol=0.02)


@pytest.mark.parametrize('res', ['512x512', '720x1280'])
@pytest.mark.parametrize('variant', ['source-only', 'dakpn-pipeline',
                                     'dakpn-gpu', 'target-only'])
def test_paper_downstream_configs_parse(res, variant):
    # What differs between the variants and resolutions; that they train:
    # test_downstream_configs.py, test_paper_downstream_config_trains_...
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config
    name = f'fcn_r50-d8_gta2cityscapes-{res}_{variant}.py'
    cfg = Config.fromfile(str(ROOT / 'mmseg_configs' / 'downstream' / name))
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    pre = cfg.model.data_preprocessor
    assert ('DAKPNTranslate' in types) == (variant == 'dakpn-pipeline')
    assert (pre.type == 'DAKPNSegDataPreProcessor') == (variant == 'dakpn-gpu')
    assert cfg.train_dataloader.dataset.type == (
        'CityscapesLabelIdsDataset' if variant == 'target-only'
        else 'GTA5Dataset')
    assert cfg.val_dataloader.dataset.type == 'CityscapesLabelIdsDataset'
    size = tuple(int(v) for v in res.split('x'))
    assert tuple(pre.size) == size
    assert cfg.model.pretrained is None  # never downloads


@pytest.mark.parametrize('name, train_type', [
    ('fcn_r50-d8_gta5-96x160_encoder.py', 'GTA5Dataset'),
    ('fcn_r50-d8_cityscapes-96x160_encoder.py', 'CityscapesLabelIdsDataset'),
])
def test_paper_encoder_configs_parse(name, train_type):
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / 'mmseg_configs' / name))
    assert cfg.train_dataloader.dataset.type == train_type
    assert cfg.val_dataloader.dataset.type == 'CityscapesLabelIdsDataset'
    assert cfg.model.backbone.depth == 50 and cfg.model.pretrained is None
    resize = [t for t in cfg.train_dataloader.dataset.pipeline
              if t['type'] == 'Resize'][0]
    assert tuple(resize['scale']) == (160, 96)  # the encoder sees 96x160
