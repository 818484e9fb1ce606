"""The mmseg datasets: every layout through DATASETS.build + pipeline, the
label-id -> train-id mapping (byte-identical to the label table), the face
class alignment, and one clear DAKPNInputError per bad input."""
import shutil

import cv2
import numpy as np
import pytest

import dakpn_aug  # noqa: F401  (before mmseg)
import dakpn_aug.mmseg  # noqa: F401  (registers the datasets)
from mmengine.config import ConfigDict  # noqa: E402
from mmseg.registry import DATASETS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

from dakpn_aug.data import face_labels as fl  # noqa: E402
from dakpn_aug.data.cityscapes_labels import (  # noqa: E402
    TRAIN_CLASSES, TRAIN_PALETTE, label_ids_to_train_ids)
from dakpn_aug.data.demo import make_demo_data  # noqa: E402
from dakpn_aug.data.seg_datasets import (MapLabelIdsToTrainIds,  # noqa: E402
                                        _insert_mapping)
from dakpn_aug.errors import DAKPNInputError  # noqa: E402

register_all_modules(init_default_scope=True)

PIPE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(root, num_source=6, num_real_train=4, num_real_val=2,
                   source_size=(64, 96), real_size=(64, 128))
    return root


def build(**cfg):
    cfg.setdefault('pipeline', PIPE)
    return DATASETS.build(ConfigDict(cfg))


def raw(path):
    lbl = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert lbl is not None and lbl.dtype == np.uint8 and lbl.ndim == 2
    return lbl


def gt(sample):
    return sample['data_samples'].gt_sem_seg.data[0].numpy().astype(np.uint8)


def assert_same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.tobytes() == b.tobytes()


def copy_tree(src, dst):
    shutil.copytree(src, dst)
    return dst


def transform_names(ds):
    return [type(t).__name__ for t in ds.pipeline.transforms]


# --------------------------------------------------------------------------
# GTA5
# --------------------------------------------------------------------------
def test_gta5_train_ids_byte_identical(demo):
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'))
    assert len(ds) == 6
    assert ds.metainfo['classes'] == TRAIN_CLASSES
    assert [tuple(c) for c in ds.metainfo['palette']] == list(TRAIN_PALETTE)
    names = transform_names(ds)
    assert names.index('MapLabelIdsToTrainIds') == \
        names.index('LoadAnnotations') + 1
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img_path'].endswith(f'images/{i:05d}.png')
        assert info['seg_map_path'].endswith(f'labels/{i:05d}.png')
        sample = ds[i]
        assert_same(gt(sample), label_ids_to_train_ids(
            raw(info['seg_map_path'])))
        assert sample['inputs'].shape == (3, 64, 96)
    # Real ids were there and were mapped (not already train ids).
    ids = raw(ds.get_data_info(0)['seg_map_path'])
    assert ids.max() > 18 and gt(ds[0]).max() == 255


def test_gta5_mapping_happens_before_resize(demo):
    pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(160, 96), keep_ratio=False),
            dict(type='RandomFlip', prob=0.0), dict(type='PackSegInputs')]
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               pipeline=pipe)
    sample = ds[1]
    assert sample['inputs'].shape == (3, 96, 160)
    want = cv2.resize(label_ids_to_train_ids(
        raw(ds.get_data_info(1)['seg_map_path'])), (160, 96),
        interpolation=cv2.INTER_NEAREST)
    assert_same(gt(sample), want)


def test_explicit_transform_not_duplicated_and_idempotent(demo):
    pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='MapLabelIdsToTrainIds'),
            dict(type='MapLabelIdsToTrainIds', table='cityscapes'),
            dict(type='PackSegInputs')]
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               pipeline=pipe)
    assert transform_names(ds).count('MapLabelIdsToTrainIds') == 2
    assert_same(gt(ds[2]), label_ids_to_train_ids(
        raw(ds.get_data_info(2)['seg_map_path'])))


def test_mapping_inserted_inside_test_time_aug(demo):
    pipe = [dict(type='LoadImageFromFile'),
            dict(type='TestTimeAug', transforms=[
                [dict(type='Resize', scale=(96, 64), keep_ratio=False)],
                [dict(type='RandomFlip', prob=0.),
                 dict(type='RandomFlip', prob=1.)],
                [dict(type='LoadAnnotations')],
                [dict(type='PackSegInputs')]])]
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               pipeline=pipe)
    out = ds[0]
    want = label_ids_to_train_ids(raw(ds.get_data_info(0)['seg_map_path']))
    assert_same(gt({'data_samples': out['data_samples'][0]}), want)
    assert_same(gt({'data_samples': out['data_samples'][1]}), want)
    # Nothing to insert into twice.
    assert _insert_mapping(ds.pipeline) == 2


def test_gta5_class_subset_composes_with_lut(demo):
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               metainfo=dict(classes=('road', 'car')))
    assert ds.metainfo['classes'] == ('road', 'car')
    tids = label_ids_to_train_ids(raw(ds.get_data_info(0)['seg_map_path']))
    want = np.full_like(tids, 255)
    want[tids == TRAIN_CLASSES.index('road')] = 0
    want[tids == TRAIN_CLASSES.index('car')] = 1
    assert_same(gt(ds[0]), want)
    assert set(np.unique(want)) == {0, 1, 255}


def test_gta5_split_file_and_holdout(demo, tmp_path):
    split = tmp_path / 'split.txt'
    split.write_text('00004\n00001\n\n')
    ds = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               ann_file=str(split))
    assert [ds.get_data_info(i)['img_path'][-9:] for i in range(2)] == [
        '00004.png', '00001.png']
    assert_same(gt(ds[0]), label_ids_to_train_ids(
        raw(demo / 'gta5/labels/00004.png')))
    tr = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               holdout_every=3, subset='train')
    ho = build(type='GTA5Dataset', data_root=str(demo / 'gta5'),
               holdout_every=3, subset='holdout')
    names = lambda d: [d.get_data_info(i)['img_path'][-9:]  # noqa: E731
                       for i in range(len(d))]
    assert names(ho) == ['00002.png', '00005.png']
    assert names(tr) == ['00000.png', '00001.png', '00003.png', '00004.png']


# --------------------------------------------------------------------------
# Cityscapes
# --------------------------------------------------------------------------
def cs(root, split='val', **kw):
    return build(type='CityscapesLabelIdsDataset', data_root=str(root),
                 data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                  seg_map_path=f'gtFine/{split}'), **kw)


def test_cityscapes_label_ids_mapped_on_the_fly(demo):
    for split, n in (('train', 4), ('val', 2)):
        ds = cs(demo / 'cityscapes', split)
        assert len(ds) == n
        assert ds.metainfo['classes'] == TRAIN_CLASSES
        for i in range(n):
            info = ds.get_data_info(i)
            assert info['seg_map_path'].endswith('_gtFine_labelIds.png')
            assert_same(gt(ds[i]), label_ids_to_train_ids(
                raw(info['seg_map_path'])))
    # Naming the label-id files as seg_map_suffix still maps them.
    ds = cs(demo / 'cityscapes', seg_map_suffix='_gtFine_labelIds.png')
    assert_same(gt(ds[0]), label_ids_to_train_ids(
        raw(ds.get_data_info(0)['seg_map_path'])))


def test_cityscapes_prefers_label_train_ids(demo, tmp_path):
    root = copy_tree(demo / 'cityscapes', tmp_path / 'cs')
    ids = sorted((root / 'gtFine/train').rglob('*_gtFine_labelIds.png'))
    # A deliberately different labelTrainIds file for the first image only.
    special = ids[0].with_name(ids[0].name.replace('labelIds',
                                                   'labelTrainIds'))
    marker = np.full_like(raw(ids[0]), 3)
    marker[:5] = 255
    cv2.imwrite(str(special), marker)
    ds = cs(root, 'train')
    assert ds.get_data_info(0)['seg_map_path'] == str(special)
    assert_same(gt(ds[0]), marker)  # read as is, not mapped again
    info = ds.get_data_info(1)
    assert info['seg_map_path'].endswith('_gtFine_labelIds.png')
    assert_same(gt(ds[1]), label_ids_to_train_ids(raw(info['seg_map_path'])))
    # With only labelTrainIds files it behaves like mmseg's CityscapesDataset
    for p in ids:
        cv2.imwrite(str(p).replace('labelIds', 'labelTrainIds'),
                    label_ids_to_train_ids(raw(p)))
        p.unlink()
    mm = build(type='CityscapesDataset', data_root=str(root),
               data_prefix=dict(img_path='leftImg8bit/train',
                                seg_map_path='gtFine/train'))
    ours = cs(root, 'train')
    for i in range(1, 4):
        assert ours.get_data_info(i)['seg_map_path'] == \
            mm.get_data_info(i)['seg_map_path']
        assert_same(gt(ours[i]), gt(mm[i]))


# --------------------------------------------------------------------------
# Plain folder pairs
# --------------------------------------------------------------------------
def test_image_folder_pairs(demo, tmp_path):
    ds = build(type='ImageFolderSegDataset', img_dir=str(demo / 'gta5/images'),
               ann_dir=str(demo / 'gta5/labels'), label_map_name='cityscapes')
    assert len(ds) == 6 and ds.metainfo['classes'] == TRAIN_CLASSES
    assert_same(gt(ds[3]), label_ids_to_train_ids(
        raw(demo / 'gta5/labels/00003.png')))
    # Train-id files are read as they are (label_map_name=None), in nested
    # folders, with other suffixes.
    (tmp_path / 'img/a').mkdir(parents=True)
    (tmp_path / 'ann/a').mkdir(parents=True)
    tids = label_ids_to_train_ids(raw(demo / 'gta5/labels/00003.png'))
    shutil.copy(demo / 'gta5/images/00003.png', tmp_path / 'img/a/x.png')
    cv2.imwrite(str(tmp_path / 'ann/a/x_mask.png'), tids)
    ds = build(type='ImageFolderSegDataset', data_root=str(tmp_path),
               img_dir='img', ann_dir='ann', seg_map_suffix='_mask.png',
               label_map_name=None,
               metainfo=dict(classes=TRAIN_CLASSES))
    assert len(ds) == 1
    assert_same(gt(ds[0]), tids)


# --------------------------------------------------------------------------
# Faces (paper section 4.2)
# --------------------------------------------------------------------------
def test_face_table_choices():
    fs, ce, face = (fl.FACESYNTHETICS_CLASSES, fl.CELEBAMASK_HQ_CLASSES,
                    fl.FACE_CLASSES)
    f2 = {fs[k]: (face[v] if v != 255 else None)
          for k, v in fl.FACESYNTHETICS_TO_FACE.items()}
    c2 = {ce[k]: (face[v] if v != 255 else None)
          for k, v in fl.CELEBAMASK_HQ_TO_FACE.items()}
    assert set(f2) == set(fs) and set(c2) == set(ce)  # all native ids
    assert f2['MOUTH_INTERIOR'] == c2['mouth'] == 'mouth'
    assert f2['BEARD'] == 'skin' and f2['GLASSES'] == c2['eye_g']
    assert f2['HEADWEAR'] == c2['hat'] == 'hat'
    assert f2['FACEWEAR'] is None
    assert c2['ear_r'] is None and c2['neck_l'] is None
    assert f2['RIGHT_EYE'] == f2['LEFT_EYE'] == c2['l_eye'] == \
        c2['r_eye'] == 'eye'
    assert f2['TOP_LIP'] == c2['u_lip'] and f2['BOTTOM_LIP'] == c2['l_lip']
    # Every shared class comes from both domains.
    assert set(f2.values()) - {None} == set(face) == set(c2.values()) - {None}
    lbl = np.array([[0, 9, 14, 18, 255, 200]], np.uint8)
    assert fl.facesynthetics_to_face(lbl).tolist() == [[
        0, face.index('mouth'), face.index('skin'), 255, 255, 255]]


def write_facesynthetics(root, n=3, size=(40, 48)):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / f'{i:06d}.png'),
                    rng.integers(0, 255, size + (3, ), np.uint8))
        lbl = rng.integers(0, 19, size, np.uint8)
        lbl[:3] = 255
        cv2.imwrite(str(root / f'{i:06d}_seg.png'), lbl)
        (root / f'{i:06d}_ldmks.txt').write_text('0 0\n')
    return root


def write_celebamask(root, n=3, img=64, lbl=32):
    rng = np.random.default_rng(1)
    (root / 'CelebA-HQ-img').mkdir(parents=True, exist_ok=True)
    (root / 'CelebAMask-HQ-label').mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / f'CelebA-HQ-img/{i}.jpg'),
                    rng.integers(0, 255, (img, img, 3), np.uint8))
        cv2.imwrite(str(root / f'CelebAMask-HQ-label/{i}.png'),
                    rng.integers(0, 19, (lbl, lbl), np.uint8))
    return root


def test_facesynthetics_dataset(tmp_path):
    root = write_facesynthetics(tmp_path / 'dataset_100000')
    ds = build(type='FaceSyntheticsDataset', data_root=str(root))
    assert len(ds) == 3 and ds.metainfo['classes'] == fl.FACE_CLASSES
    for i in range(3):
        info = ds.get_data_info(i)
        assert info['img_path'].endswith(f'{i:06d}.png')
        assert info['seg_map_path'].endswith(f'{i:06d}_seg.png')
        assert_same(gt(ds[i]), fl.facesynthetics_to_face(
            raw(info['seg_map_path'])))


def test_celebamask_hq_dataset(tmp_path):
    root = write_celebamask(tmp_path / 'CelebAMask-HQ', n=12)
    ds = build(type='CelebAMaskHQDataset', data_root=str(root))
    assert len(ds) == 12 and ds.metainfo['classes'] == fl.FACE_CLASSES
    # natural order: 0, 1, 2, ..., 10, 11
    assert ds.get_data_info(10)['img_path'].endswith('/10.jpg')
    assert_same(gt(ds[10]), fl.celebamask_hq_to_face(
        raw(root / 'CelebAMask-HQ-label/10.png')))
    # 64x64 images with 32x32 labels (like 1024 vs 512): resize both.
    pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(32, 32), keep_ratio=False),
            dict(type='PackSegInputs')]
    ds = build(type='CelebAMaskHQDataset', data_root=str(root),
               pipeline=pipe)
    s = ds[2]
    assert s['inputs'].shape == (3, 32, 32)
    assert_same(gt(s), fl.celebamask_hq_to_face(
        raw(root / 'CelebAMask-HQ-label/2.png')))


# --------------------------------------------------------------------------
# The transform on its own
# --------------------------------------------------------------------------
def test_transform_unit():
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    t = MapLabelIdsToTrainIds(table='cityscapes')
    out = t(dict(gt_seg_map=ids.copy()))
    assert_same(out['gt_seg_map'], label_ids_to_train_ids(ids))
    assert (out['gt_seg_map'][ids > 33] == 255).all()
    assert t(out)['gt_seg_map'] is out['gt_seg_map']  # idempotent
    # A sample whose label_lut is None (train-id file) stays as it is.
    r = t(dict(gt_seg_map=ids.copy(), label_lut=None))
    assert_same(r['gt_seg_map'], ids)
    assert MapLabelIdsToTrainIds()(dict(gt_seg_map=ids))['gt_seg_map'] is ids
    with pytest.raises(KeyError, match='after LoadAnnotations'):
        t(dict(img_path='x.png'))
    with pytest.raises(ValueError, match='unknown label table'):
        MapLabelIdsToTrainIds(table='nope')


# --------------------------------------------------------------------------
# Bad input: one DAKPNInputError naming the path
# --------------------------------------------------------------------------
def raises_naming(path, fn):
    with pytest.raises(DAKPNInputError) as e:
        fn()
    assert str(path) in str(e.value), str(e.value)
    return str(e.value)


def test_gta5_bad_inputs(demo, tmp_path):
    missing = tmp_path / 'nope'
    raises_naming(missing, lambda: build(type='GTA5Dataset',
                                         data_root=str(missing)))
    for sub in ('images', 'labels'):
        root = copy_tree(demo / 'gta5', tmp_path / f'no_{sub}')
        shutil.rmtree(root / sub)
        raises_naming(root / sub, lambda: build(type='GTA5Dataset',
                                                data_root=str(root)))
    root = tmp_path / 'empty'
    (root / 'images').mkdir(parents=True)
    (root / 'labels').mkdir()
    raises_naming(root / 'images', lambda: build(type='GTA5Dataset',
                                                 data_root=str(root)))
    root = copy_tree(demo / 'gta5', tmp_path / 'nolabel')
    (root / 'labels/00002.png').unlink()
    msg = raises_naming(root / 'images/00002.png',
                        lambda: build(type='GTA5Dataset',
                                      data_root=str(root)))
    assert str(root / 'labels/00002.png') in msg  # the expected file
    root = copy_tree(demo / 'gta5', tmp_path / 'noimage')
    (root / 'images/00003.png').unlink()
    raises_naming(root / 'labels/00003.png',
                  lambda: build(type='GTA5Dataset', data_root=str(root)))
    split = tmp_path / 'split.txt'
    raises_naming(split, lambda: build(type='GTA5Dataset',
                                       data_root=str(demo / 'gta5'),
                                       ann_file=str(split)))
    split.write_text('00001\n00042\n')
    raises_naming(demo / 'gta5/images/00042.png',
                  lambda: build(type='GTA5Dataset',
                                data_root=str(demo / 'gta5'),
                                ann_file=str(split)))


def test_cityscapes_and_face_bad_inputs(demo, tmp_path):
    raises_naming(tmp_path / 'nope', lambda: cs(tmp_path / 'nope'))
    root = copy_tree(demo / 'cityscapes', tmp_path / 'cs')
    img = sorted((root / 'leftImg8bit/val').rglob('*.png'))[0]
    lbl = sorted((root / 'gtFine/val').rglob('*_labelIds.png'))[0]
    shutil.move(lbl, tmp_path / 'moved.png')
    raises_naming(img, lambda: cs(root))
    shutil.move(tmp_path / 'moved.png', lbl)
    img.unlink()
    raises_naming(lbl, lambda: cs(root))
    raises_naming(root / 'leftImg8bit/test',
                  lambda: cs(root, 'test'))

    fs = write_facesynthetics(tmp_path / 'fs')
    (fs / '000001_seg.png').unlink()
    raises_naming(fs / '000001.png', lambda: build(
        type='FaceSyntheticsDataset', data_root=str(fs)))
    (fs / '000002.png').unlink()
    raises_naming(fs / '000002_seg.png', lambda: build(
        type='FaceSyntheticsDataset', data_root=str(fs)))
    ce = write_celebamask(tmp_path / 'ce')
    shutil.rmtree(ce / 'CelebAMask-HQ-label')
    raises_naming(ce / 'CelebAMask-HQ-label', lambda: build(
        type='CelebAMaskHQDataset', data_root=str(ce)))
