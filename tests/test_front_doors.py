"""Front doors through their real hosts: labels byte-identical, images
translated (mmseg pipeline + DataLoader workers, albumentations Compose)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNTranslator
from dakpn_aug.data.demo import make_demo_data


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny')
    with torch.no_grad():  # as if trained: desaturate, blur, noise
        tr.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.1, 0, 0, .02, 1.2, 1.2, 1.2, .08, .08, .08]))
        torch.nn.init.normal_(tr.kpn.conv.weight, std=0.01)
    path = tmp_path_factory.mktemp('bundle') / 'dakpn_bundle.pth'
    tr.save(path)
    return path


@pytest.fixture(scope='module')
def gta(tmp_path_factory):
    root = tmp_path_factory.mktemp('front')
    make_demo_data(root, seed=2, num_source=4, num_real_train=2,
                   num_real_val=1, source_size=(96, 160),
                   real_size=(96, 192))
    return root / 'gta5'


def mmseg_pipeline(extra):
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    return Compose([dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations')] + extra)


def load(gta, pipeline, i=0):
    name = sorted((gta / 'images').glob('*.png'))[i].name
    return pipeline(dict(img_path=str(gta / 'images' / name),
                         seg_map_path=str(gta / 'labels' / name),
                         reduce_zero_label=False, seg_fields=[]))


def test_mmseg_transform_translates_image_and_keeps_labels(gta, bundle):
    plain = load(gta, mmseg_pipeline([]))
    out = load(gta, mmseg_pipeline([dict(type='DAKPNTranslate',
                                         checkpoint=str(bundle))]))
    assert out['img'].dtype == plain['img'].dtype == np.uint8
    assert out['img'].shape == plain['img'].shape
    assert np.abs(out['img'].astype(int) - plain['img']).mean() > 3
    assert out['gt_seg_map'].tobytes() == plain['gt_seg_map'].tobytes()
    for k in plain:
        if k != 'img':
            assert np.array_equal(np.asarray(out[k]), np.asarray(plain[k])), k
    # Channel order stays BGR: each output channel follows the same input
    # channel (a swapped order would correlate with another one).
    a = out['img'].reshape(-1, 3).astype(float).T
    b = plain['img'].reshape(-1, 3).astype(float).T
    corr = np.corrcoef(np.concatenate([a, b]))[:3, 3:]
    assert (corr.argmax(axis=1) == [0, 1, 2]).all()


def test_mmseg_transform_registry_repr_prob_and_errors(bundle):
    import dakpn_aug.mmseg  # noqa: F401
    from mmseg.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type='DAKPNTranslate', checkpoint=str(bundle),
                              prob=0.0, device='cpu', noise='none', seed=3))
    assert repr(t) == (f"DAKPNTranslate(checkpoint={str(bundle)!r}, "
                       "prob=0.0, device='cpu', noise='none', seed=3, "
                       "label_guidance=True)")
    img = np.full((40, 60, 3), 100, np.uint8)
    assert t(dict(img=img.copy()))['img'].tobytes() == img.tobytes()
    from dakpn_aug import DAKPNInputError
    with pytest.raises(DAKPNInputError, match='HxWx3'):
        TRANSFORMS.build(dict(type='DAKPNTranslate', checkpoint=str(bundle)))(
            dict(img=np.zeros((40, 60), np.uint8)))
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='DAKPNTranslate', checkpoint='x', prob=2))


def test_mmseg_transform_seeded_fresh_noise_is_reproducible(gta, bundle):
    cfg = [dict(type='DAKPNTranslate', checkpoint=str(bundle),
                noise='fresh', seed=7)]
    a = load(gta, mmseg_pipeline(cfg))['img']
    b = load(gta, mmseg_pipeline(cfg))['img']
    assert np.array_equal(a, b)


def test_mmseg_dataset_with_worker_processes(gta, bundle):
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    from torch.utils.data import DataLoader
    init_default_scope('mmseg')
    common = dict(type='GTA5Dataset', data_root=str(gta))
    base = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    pack = [dict(type='PackSegInputs')]
    ds_plain = DATASETS.build(dict(common, pipeline=base + pack))
    ds = DATASETS.build(dict(common, pipeline=base + [dict(
        type='DAKPNTranslate', checkpoint=str(bundle))] + pack))
    loader = DataLoader(ds, batch_size=2, num_workers=2,
                        collate_fn=lambda b: b)
    seen = 0
    for batch in loader:
        for sample in batch:
            i = ds_plain.get_data_info(seen)
            ref = ds_plain[seen]
            assert sample['data_samples'].img_path == i['img_path']
            assert torch.equal(sample['data_samples'].gt_sem_seg.data,
                               ref['data_samples'].gt_sem_seg.data)
            assert not torch.equal(sample['inputs'], ref['inputs'])
            seen += 1
    assert seen == len(ds) == 4


# ------------------------------------------------------------ albumentations

def test_albumentations_masks_untouched_and_seeded(bundle):
    import albumentations as A
    from dakpn_aug.albumentations import DAKPN
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    mask = rng.integers(0, 19, (64, 96), dtype=np.uint8)
    a = A.Compose([DAKPN(str(bundle))], seed=5)(image=img, mask=mask)
    b = A.Compose([DAKPN(str(bundle))], seed=5)(image=img, mask=mask)
    c = A.Compose([DAKPN(str(bundle))], seed=6)(image=img, mask=mask)
    assert a['mask'].tobytes() == mask.tobytes()
    assert a['image'].shape == img.shape and a['image'].dtype == np.uint8
    assert np.array_equal(a['image'], b['image'])
    assert not np.array_equal(a['image'], c['image'])
    assert np.abs(a['image'].astype(int) - img).mean() > 3
    none = A.Compose([DAKPN(str(bundle), p=0.0)], seed=5)(image=img)
    assert np.array_equal(none['image'], img)


def test_albumentations_batch_float_and_serialisation(bundle):
    import albumentations as A
    from dakpn_aug.albumentations import DAKPN
    imgs = np.random.default_rng(1).random((3, 48, 64, 3), dtype=np.float32)
    aug = A.Compose([DAKPN(str(bundle), noise='none')], seed=1)
    out = aug(images=imgs)['images']
    assert out.shape == imgs.shape and out.dtype == np.float32
    single = aug(image=imgs[1])['image']
    np.testing.assert_allclose(out[1], single, atol=1e-6)
    d = A.to_dict(aug)
    assert d['transform']['transforms'][0]['__class_fullname__'] == \
        'dakpn_aug.albumentations.DAKPN'
    back = A.from_dict(d)
    t = back.transforms[0]
    assert isinstance(t, DAKPN) and t.checkpoint == str(bundle)
    assert (t.noise, t.device) == ('none', 'cpu')
    with pytest.raises(Exception):
        DAKPN(str(bundle), noise='sometimes')


class _AugDataset(torch.utils.data.Dataset):

    def __init__(self, aug, n=4):
        self.aug = aug
        rng = np.random.default_rng(3)
        self.items = [(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                       rng.integers(0, 19, (48, 64), dtype=np.uint8))
                      for _ in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img, mask = self.items[i]
        out = self.aug(image=img, mask=mask)
        return out['image'], out['mask'], mask


def test_albumentations_in_dataloader_workers(bundle):
    import albumentations as A
    from dakpn_aug.albumentations import DAKPN
    ds = _AugDataset(A.Compose([DAKPN(str(bundle))], seed=0))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    for img, mask, orig_mask in loader:
        assert torch.equal(mask, orig_mask)
        assert img.dtype == torch.uint8 and img.shape == (2, 48, 64, 3)


# ----------------------------------------------------- GPU batch translation

PRE = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
           bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(96, 160))


def packed(gta, extra, n=2, noise=None, seed=None):
    pipe = mmseg_pipeline(extra + [dict(type='PackSegInputs')])
    items = [load(gta, pipe, i) for i in range(n)]
    return dict(inputs=[it['inputs'] for it in items],
                data_samples=[it['data_samples'] for it in items])


@pytest.mark.parametrize('noise, seed', [(None, None), ('fresh', 11)])
def test_preprocessor_equals_pipeline_transform(gta, bundle, noise, seed):
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from dakpn_aug.mmseg import DAKPNSegDataPreProcessor
    via_pipeline = SegDataPreProcessor(**PRE)(packed(gta, [dict(
        type='DAKPNTranslate', checkpoint=str(bundle), noise=noise,
        seed=seed)]), training=True)
    pre = DAKPNSegDataPreProcessor(checkpoint=str(bundle), noise=noise,
                                   seed=seed, **PRE)
    raw = packed(gta, [])
    labels_before = [s.gt_sem_seg.data.clone() for s in raw['data_samples']]
    via_batch = pre(raw, training=True)
    torch.testing.assert_close(via_batch['inputs'], via_pipeline['inputs'],
                               atol=1e-5, rtol=0)
    for s, before in zip(via_batch['data_samples'], labels_before):
        assert torch.equal(s.gt_sem_seg.data, before)
    plain = SegDataPreProcessor(**PRE)(packed(gta, []), training=True)
    assert not torch.allclose(via_batch['inputs'], plain['inputs'])
    # Never at validation/test time.
    ev = pre(packed(gta, []), training=False)
    ref = SegDataPreProcessor(**PRE)(packed(gta, []), training=False)
    torch.testing.assert_close(ev['inputs'], ref['inputs'])
    # The translator is not part of the model's weights.
    assert not any('kpn' in k or 'encoder' in k for k in pre.state_dict())


def test_preprocessor_translates_only_marked_source_samples(gta, bundle):
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from dakpn_aug.mmseg import DAKPNSegDataPreProcessor
    data = packed(gta, [])
    data['data_samples'][0].set_metainfo(dict(is_source=True))
    data['data_samples'][1].set_metainfo(dict(is_source=False))
    out = DAKPNSegDataPreProcessor(checkpoint=str(bundle),
                                   source_key='is_source', **PRE)(
                                       data, training=True)
    ref = SegDataPreProcessor(**PRE)(packed(gta, []), training=True)
    assert not torch.allclose(out['inputs'][0], ref['inputs'][0])
    torch.testing.assert_close(out['inputs'][1], ref['inputs'][1])


def test_front_doors_take_a_reduced_precision_encoder(gta, bundle):
    """encoder_dtype reaches the translator of every front door; labels
    stay byte-identical."""
    import albumentations as A
    from dakpn_aug.albumentations import DAKPN
    from dakpn_aug.runtime import get_translator
    plain = load(gta, mmseg_pipeline([]))
    out = load(gta, mmseg_pipeline([dict(
        type='DAKPNTranslate', checkpoint=str(bundle),
        encoder_dtype='bfloat16')]))
    assert out['gt_seg_map'].tobytes() == plain['gt_seg_map'].tobytes()
    assert np.abs(out['img'].astype(int) - plain['img']).mean() > 3
    assert get_translator(str(bundle), 'cpu', None, 'bfloat16'
                          ).encoder_dtype == torch.bfloat16
    assert get_translator(str(bundle), 'cpu').encoder_dtype is None
    mask = plain['gt_seg_map']
    res = A.Compose([DAKPN(str(bundle), encoder_dtype='bfloat16')], seed=1)(
        image=plain['img'][..., ::-1].copy(), mask=mask)
    assert res['mask'].tobytes() == mask.tobytes()
    with pytest.raises(Exception, match='encoder_dtype'):
        DAKPN(str(bundle), encoder_dtype='int8')
    # The GPU batch step (here on the CPU): the same images as the
    # pipeline transform with the same setting.
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from dakpn_aug.mmseg import DAKPNSegDataPreProcessor
    via_pipeline = SegDataPreProcessor(**PRE)(packed(gta, [dict(
        type='DAKPNTranslate', checkpoint=str(bundle),
        encoder_dtype='bfloat16')]), training=True)
    pre = DAKPNSegDataPreProcessor(checkpoint=str(bundle),
                                   encoder_dtype='bfloat16', **PRE)
    torch.testing.assert_close(pre(packed(gta, []), training=True)['inputs'],
                               via_pipeline['inputs'], atol=1e-5, rtol=0)


def test_front_doors_pass_the_labels_for_label_guidance(gta, bundle):
    """Each front door hands the image's own labels to the translation
    (``label_guidance``), which changes the image where the labels
    disagree with the encoder, and never changes the labels."""
    import albumentations as A
    from mmseg.registry import TRANSFORMS

    from dakpn_aug.albumentations import DAKPN
    plain = load(gta, mmseg_pipeline([]))
    labels = plain['gt_seg_map'].copy()
    labels[10:50, 70:74] = 6  # a "traffic light" the encoder cannot see

    def transform(results, **kw):
        t = TRANSFORMS.build(dict(type='DAKPNTranslate', noise='none',
                                  checkpoint=str(bundle), **kw))
        return t(dict(results, img=results['img'].copy()))

    guided = transform(dict(plain, gt_seg_map=labels.copy()))
    unguided = transform(dict(plain, gt_seg_map=labels.copy()),
                         label_guidance=False)
    assert guided['gt_seg_map'].tobytes() == labels.tobytes()
    assert not np.array_equal(guided['img'], unguided['img'])
    no_labels = {k: v for k, v in plain.items() if k != 'gt_seg_map'}
    assert np.array_equal(transform(no_labels)['img'], unguided['img'])

    rgb = plain['img'][..., ::-1].copy()
    a = A.Compose([DAKPN(str(bundle), noise='none')])(image=rgb, mask=labels)
    b = A.Compose([DAKPN(str(bundle), noise='none', label_guidance=False)])(
        image=rgb, mask=labels)
    c = A.Compose([DAKPN(str(bundle), noise='none')])(image=rgb)
    assert a['mask'].tobytes() == labels.tobytes()
    assert np.array_equal(b['image'], c['image'])
    assert not np.array_equal(a['image'], c['image'])
    # The albumentations door agrees with the mmseg door (RGB vs BGR).
    assert np.array_equal(a['image'][..., ::-1], guided['img'])
    # Batches: masks guide their images.
    batch = A.Compose([DAKPN(str(bundle), noise='none')])(
        images=np.stack([rgb, rgb]), masks=np.stack([labels, labels]))
    assert np.array_equal(batch['images'][1], a['image'])
