"""The training-free albumentations peers used as benchmark rows."""
import numpy as np
import pytest

from dakpn_aug.peers import PEERS, make_peer


def images(seed, n, colour, size=(48, 80)):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.asarray(colour, np.float32) + rng.normal(0, 20, size + (3, ))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize('name', PEERS)
def test_peer_moves_images_towards_the_reference_and_is_seeded(name):
    refs = images(0, 3, (60, 70, 90), size=(40, 96))  # other size: fine
    src = images(1, 1, (200, 120, 40))[0]
    out = make_peer(name, refs, seed=3)(src)
    assert out.dtype == np.uint8 and out.shape == src.shape
    ref_mean = np.mean(refs, axis=(0, 1, 2))
    # Closer to the reference's mean colour than the source was (and not
    # collapsed to black or white, as broken float/uint8 handling does).
    before = np.abs(src.mean((0, 1)) - ref_mean).sum()
    after = np.abs(out.mean((0, 1)) - ref_mean).sum()
    assert after < 0.8 * before, (before, after)
    assert 20 < out.mean() < 235
    again = make_peer(name, refs, seed=3)(src)
    assert np.array_equal(out, again)


def test_peer_errors():
    with pytest.raises(ValueError, match='unknown peer'):
        make_peer('cyclegan', images(0, 1, (0, 0, 0)))
    with pytest.raises(ValueError, match='at least one'):
        make_peer('fda', [])
    with pytest.raises(ValueError, match='uint8'):
        make_peer('fda', [np.zeros((4, 4, 3), np.float32)])
    fn = make_peer('fda', images(0, 1, (0, 0, 0)))
    with pytest.raises(ValueError, match='uint8'):
        fn(np.zeros((4, 4), np.uint8))
