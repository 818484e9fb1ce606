"""The image-only mmseg transforms added for translator quality:
RandomBlurNoise (the encoder's robustness augmentation) and PeerTranslate
(the albumentations peers): labels and geometry untouched, bad arguments
refused."""
import numpy as np
import pytest

import dakpn_aug.mmseg  # noqa: F401  (registers the transform)
from dakpn_aug.mmseg.transforms import RandomBlurNoise


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
