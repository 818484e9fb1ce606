"""The image-only mmseg transforms added for translator quality:
RandomBlurNoise and RandomColorCast (the encoder's robustness
augmentations) and PeerTranslate
(the albumentations peers): labels and geometry untouched, bad arguments
refused."""
import numpy as np
import pytest

import dakpn_aug.mmseg  # noqa: F401  (registers the transform)
from dakpn_aug.mmseg.transforms import RandomBlurNoise, RandomColorCast


def results():
    rng = np.random.default_rng(0)
    img = np.zeros((48, 64, 3), np.uint8)
    img[20, 30] = 255  # one bright pixel: its blur must stay centred
    img[:, :8] = rng.integers(0, 256, (48, 8, 3), np.uint8)
    seg = rng.integers(0, 19, (48, 64)).astype(np.uint8)
    return dict(img=img, gt_seg_map=seg, img_shape=(48, 64))


def test_blur_and_noise_touch_the_image_only():
    np.random.seed(0)
    r = results()
    seg = r['gt_seg_map'].copy()
    out = RandomBlurNoise(blur_prob=1.0, sigma=(1.5, 1.5), noise_prob=0.0)(
        dict(r, img=r['img'].copy()))
    assert np.array_equal(out['gt_seg_map'], seg)
    assert out['img'].dtype == np.uint8 and out['img'].shape == (48, 64, 3)
    patch = out['img'][15:26, 25:36, 0].astype(float)
    ys, xs = np.indices(patch.shape)
    assert abs((patch * ys).sum() / patch.sum() - 5) < 0.05
    assert abs((patch * xs).sum() / patch.sum() - 5) < 0.05
    assert out['img'][20, 30, 0] < 255  # it was blurred
    noisy = RandomBlurNoise(blur_prob=0.0, noise_prob=1.0,
                            noise_std=(0.05, 0.05))(dict(r, img=r['img']
                                                         .astype(np.float32)))
    assert noisy['img'].dtype == np.float32
    assert 5 < np.std(noisy['img'][30:, 20:] - r['img'][30:, 20:]) < 20
    same = RandomBlurNoise(blur_prob=0.0, noise_prob=0.0)(
        dict(r, img=r['img'].copy()))
    assert np.array_equal(same['img'], r['img'])


@pytest.mark.parametrize('kwargs', [dict(blur_prob=1.5),
                                    dict(noise_prob=-0.1),
                                    dict(sigma=(2.0, 1.0)),
                                    dict(noise_std=(-0.1, 0.1))])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RandomBlurNoise(**kwargs)


def test_color_cast_scales_red_and_blue_only():
    np.random.seed(0)
    r = results()
    img = np.full((48, 64, 3), 100, np.uint8)  # grey: a cast tints it
    seg = r['gt_seg_map'].copy()
    out = RandomColorCast(prob=1.0, gain=(0.7, 1.3))(dict(r, img=img.copy()))
    assert np.array_equal(out['gt_seg_map'], seg)
    b, g, red = (out['img'][..., i] for i in range(3))  # BGR
    assert out['img'].dtype == np.uint8 and out['img'].shape == img.shape
    assert (g == 100).all()  # green is the reference channel
    # One gain per channel for the whole image, inside the range.
    for ch in (b, red):
        assert len(np.unique(ch)) == 1 and 70 <= ch[0, 0] <= 130
    assert (b[0, 0], red[0, 0]) != (100, 100)
    # float input keeps its dtype; saturated values are clipped to 255
    bright = np.full((4, 4, 3), 250, np.float32)
    out = RandomColorCast(prob=1.0, gain=(1.2, 1.2))(dict(img=bright))
    assert out['img'].dtype == np.float32
    assert np.array_equal(out['img'][..., 0], np.full((4, 4), 255.0))
    same = RandomColorCast(prob=0.0)(dict(img=img.copy()))
    assert np.array_equal(same['img'], img)
    for bad in (dict(prob=2.0), dict(gain=(1.3, 0.7)), dict(gain=(0.0, 1.0))):
        with pytest.raises(ValueError):
            RandomColorCast(**bad)


def test_peer_transform_changes_the_image_only(tmp_path):
    """PeerTranslate (the albumentations peers in mmseg pipelines): labels
    byte-identical, same shape and dtype, the image moved."""
    from dakpn_aug.data.demo import make_demo_data
    from dakpn_aug.mmseg.transforms import PeerTranslate
    make_demo_data(tmp_path, seed=0, num_source=1, num_real_train=2,
                   num_real_val=1, source_size=(48, 64), real_size=(48, 80))
    for peer in ('fda', 'histogram-matching', 'pixel-distribution'):
        r = results()
        seg = r['gt_seg_map'].copy()
        img = r['img'].copy()
        out = PeerTranslate(peer=peer,
                            reference_root=str(tmp_path / 'cityscapes'))(r)
        assert out['gt_seg_map'].tobytes() == seg.tobytes()
        assert out['img'].shape == img.shape and out['img'].dtype == np.uint8
        assert not np.array_equal(out['img'], img), peer
    with pytest.raises(ValueError, match='unknown peer'):
        PeerTranslate(peer='cyclegan', reference_root=str(tmp_path))
