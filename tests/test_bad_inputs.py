"""One battery of bad and good images through every front door: the same
input gets the same verdict (one clear DAKPNInputError, naming what is
wrong) at the numpy door, the albumentations door, the tensor door and the
mmseg pipeline door."""
import re

import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNInputError

H, W = 40, 56


def rgb8():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)


#: name -> (image in the numpy doors' convention: RGB, uint8/uint16 or
#: float in [0, 1]; expected message fragment, or None for a good image)
NUMPY_CASES = {
    'uint8': (rgb8(), None),
    'uint16': (rgb8().astype(np.uint16) * 257, None),
    'float in [0, 1]': (rgb8().astype(np.float32) / 255, None),
    'greyscale': (rgb8()[..., 0], 'greyscale'),
    'one channel': (rgb8()[..., :1], 'greyscale'),
    'RGBA': (np.dstack([rgb8(), rgb8()[..., :1]]), '4 channels'),
    'float 0..255': (rgb8().astype(np.float32), 'divide 0..255'),
    'negative float': (rgb8().astype(np.float32) / 255 - 0.5, 'in [0, 1]'),
    'NaN': (np.full((H, W, 3), np.nan, np.float32), 'NaN'),
    'int32': (rgb8().astype(np.int32), 'dtype'),
    'empty': (np.zeros((0, W, 3), np.uint8), 'empty'),
}


@pytest.fixture(scope='module')
def bundle(tmp_path_factory, tiny_translator):
    tiny_translator.kpn.reset_to_identity()
    return tiny_translator.save(tmp_path_factory.mktemp('b') / 'b.pth')


def numpy_door(tiny_translator, image):
    return tiny_translator(image)


def albumentations_door(bundle, image):
    import albumentations as A
    from dakpn_aug.albumentations import DAKPN
    return A.Compose([DAKPN(str(bundle), p=1.0)], seed=0)(image=image)[
        'image']


def tensor_door(tiny_translator, image):
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    return tiny_translator.translate_batch(t)


#: The tensor door takes (B, 3, H, W) float tensors only: it gets the float
#: RGB cases.
DOOR_CASES = [(door, case) for door in ('numpy', 'albumentations', 'tensor')
              for case, (img, _) in NUMPY_CASES.items()
              if door != 'tensor' or (img.dtype.kind == 'f' and
                                      img.ndim == 3 and img.shape[2] == 3)]


@pytest.mark.parametrize('door, case', DOOR_CASES)
def test_every_door_same_verdict(case, door, tiny_translator, bundle):
    image, message = NUMPY_CASES[case]
    tiny_translator.kpn.reset_to_identity()
    call = dict(numpy=lambda: numpy_door(tiny_translator, image),
                albumentations=lambda: albumentations_door(bundle, image),
                tensor=lambda: tensor_door(tiny_translator, image))[door]
    if message is None:
        out = call()
        if isinstance(out, torch.Tensor):
            assert out.shape == (1, 3, H, W)
        else:
            assert out.shape == image.shape and out.dtype == image.dtype
        return
    with pytest.raises(DAKPNInputError, match=re.escape(message)):
        call()


#: The mmseg door: BGR, uint8 or float32 on mmseg's 0..255 scale.
MMSEG_CASES = {
    'uint8': (rgb8(), None),
    'float 0..255': (rgb8().astype(np.float32), None),
    'float above 255': (rgb8().astype(np.float32) * 2, '0, 255'),
    'NaN': (np.full((H, W, 3), np.nan, np.float32), '0, 255'),
    'greyscale': (rgb8()[..., 0], 'HxWx3'),
    'RGBA': (np.dstack([rgb8(), rgb8()[..., :1]]), 'HxWx3'),
    'uint16': (rgb8().astype(np.uint16), 'uint8 or float32'),
}


@pytest.mark.parametrize('case', list(MMSEG_CASES))
def test_mmseg_door(case, bundle):
    import dakpn_aug.mmseg  # noqa: F401
    from dakpn_aug.mmseg.transforms import DAKPNTranslate
    image, message = MMSEG_CASES[case]
    t = DAKPNTranslate(checkpoint=str(bundle))
    results = dict(img=image.copy(), img_path='x.png')
    if message is None:
        out = t(results)['img']
        assert out.shape == image.shape and out.dtype == image.dtype
        return
    with pytest.raises(DAKPNInputError, match=re.escape(message)):
        t(results)


def test_data_preprocessor_refuses_non_rgb_and_seeds_prob(bundle):
    import dakpn_aug.mmseg  # noqa: F401
    from dakpn_aug.mmseg.data_preprocessor import DAKPNSegDataPreProcessor
    pre = DAKPNSegDataPreProcessor(checkpoint=str(bundle))
    for bad in (torch.zeros(1, H, W, dtype=torch.uint8),
                torch.zeros(4, H, W, dtype=torch.uint8)):
        with pytest.raises(DAKPNInputError, match=r'\(3, H, W\)'):
            pre.translate_inputs([bad], [None])
    draws = []
    for _ in range(2):
        np.random.seed(123)  # the global state must not matter
        p = DAKPNSegDataPreProcessor(checkpoint=str(bundle), prob=0.5,
                                     seed=7)
        draws.append(p._selected([None] * 32))
        np.random.seed(999)
    assert draws[0] == draws[1] and 0 < sum(draws[0]) < 32
