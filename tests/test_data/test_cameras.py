"""The camera zoo of the demo generator: the cameras differ the way real
cameras do, the scenes and labels stay the same, the demo camera is
unchanged."""
import json

import cv2
import numpy as np
import pytest

from dakpn_aug.data.cameras import CAMERA_ZOO, apply_camera
from dakpn_aug.data.demo import make_demo_data, render_scene, REAL_STYLE
from dakpn_aug.data.cityscapes_labels import NAME_TO_ID
from dakpn_aug.domain_stats import class_stats, dataset_stats


@pytest.fixture(scope='module')
def scenes():
    out = []
    for i in range(6):
        out.append(render_scene(np.random.default_rng(i), (96, 160),
                                REAL_STYLE))
    return out


def through(camera, scenes, seed=0):
    rng = np.random.default_rng(seed)
    return [(apply_camera(rgb, rng, camera, lbl)[0], lbl)
            for rgb, lbl in scenes]


@pytest.fixture(scope='module')
def zoo(scenes):
    return {name: through(name, scenes) for name in CAMERA_ZOO}


def test_zoo_has_the_development_camera_and_four_held_out(zoo):
    assert 'demo' in CAMERA_ZOO and len(CAMERA_ZOO) >= 5
    for name, cam in CAMERA_ZOO.items():
        assert cam['description'], name


def _rb_ratio(pairs):
    return np.mean([im[..., 0].mean() / max(im[..., 2].mean(), 1)
                    for im, _ in pairs])


def test_cameras_differ_the_way_real_cameras_do(zoo):
    stats = {n: dataset_stats(im for im, _ in pairs)
             for n, pairs in zoo.items()}
    # Colour casts.
    assert _rb_ratio(zoo['warm']) > 1.15 * _rb_ratio(zoo['mild'])
    assert _rb_ratio(zoo['cold']) < 0.9 * _rb_ratio(zoo['mild'])
    # Mild to strong desaturation and blur.
    # (the cold cast adds some chroma back)
    assert stats['cold']['saturation'] < 0.8 * stats['mild']['saturation']
    assert stats['cold']['edge_strength'] < \
        0.7 * stats['mild']['edge_strength']
    # Low and high sensor noise.
    assert stats['hazy']['noise_level'] > 3 * stats['mild']['noise_level']


def test_hazy_camera_is_class_dependent(zoo, scenes):
    sky, veg = NAME_TO_ID['sky'], NAME_TO_ID['vegetation']
    mild = class_stats(zoo['mild'])
    hazy = class_stats(zoo['hazy'])
    # A hazy, paler sky; foliage pushed towards green (Cb and Cr down).
    assert hazy[sky]['C'] < 0.8 * mild[sky]['C']
    assert hazy[veg]['Cr'] < mild[veg]['Cr'] - 0.01

    # The haze blurs the sky beyond the rest of the image: a texture keeps
    # its detail on the road and loses it in the sky.
    cam = json.loads(json.dumps(CAMERA_ZOO['hazy']))
    cam['sensor_noise']['noise_std'] = [0.0, 0.0]
    tex = np.random.default_rng(0).uniform(0.3, 0.7, (64, 64, 1)).repeat(
        3, axis=2).astype(np.float32)
    lbl = np.full((64, 64), NAME_TO_ID['road'], np.uint8)
    lbl[:, :32] = sky
    out, p = apply_camera(tex, np.random.default_rng(0), cam, lbl)
    assert p['class_looks']['sky']['extra_sigma_px'] >= 2.0
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(float)
    detail = np.abs(cv2.Laplacian(grey, cv2.CV_64F))
    assert detail[8:-8, 8:24].mean() < 0.5 * detail[8:-8, 40:56].mean()


def test_cameras_move_nothing(scenes):
    """A single bright pixel stays centred through every camera."""
    rgb = np.zeros((41, 41, 3), np.float32)
    rgb[20, 20] = 1.0
    lbl = np.full((41, 41), NAME_TO_ID['sky'], np.uint8)
    for name in CAMERA_ZOO:
        cam = json.loads(json.dumps(CAMERA_ZOO[name]))
        cam['sensor_noise']['noise_std'] = [0.0, 0.0]
        cam['vignetting']['strength'] = [0.0, 0.0]
        cam['optical_blur']['motion_prob'] = 0.0
        out, _ = apply_camera(rgb, np.random.default_rng(0), cam, lbl)
        grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(float)
        ys, xs = np.indices(grey.shape)
        cy = (grey * ys).sum() / grey.sum()
        cx = (grey * xs).sum() / grey.sum()
        assert abs(cy - 20) < 0.05 and abs(cx - 20) < 0.05, name


def test_class_looks_need_labels():
    rgb = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match='label map'):
        apply_camera(rgb, np.random.default_rng(0), 'hazy')
    with pytest.raises(ValueError, match='unknown camera'):
        apply_camera(rgb, np.random.default_rng(0), 'nope')


def test_every_camera_sees_the_same_source_and_labels(tmp_path):
    small = dict(seed=0, num_source=2, num_real_train=2, num_real_val=1,
                 source_size=(48, 80), real_size=(48, 96))
    a = make_demo_data(tmp_path / 'a', camera='demo', **small)
    b = make_demo_data(tmp_path / 'b', camera='cold', **small)
    assert a['camera'] == 'demo' and b['camera'] == 'cold'
    for rel in ('gta5/images/00000.png', 'gta5/labels/00000.png',
                'cityscapes/gtFine/train/demotown/'
                'demotown_000000_000019_gtFine_labelIds.png'):
        assert (tmp_path / 'a' / rel).read_bytes() == \
            (tmp_path / 'b' / rel).read_bytes()
    real = 'cityscapes/leftImg8bit/train/demotown/' \
        'demotown_000000_000019_leftImg8bit.png'
    assert (tmp_path / 'a' / real).read_bytes() != \
        (tmp_path / 'b' / real).read_bytes()
    assert b['camera_model'] == json.loads(json.dumps(CAMERA_ZOO['cold']))
