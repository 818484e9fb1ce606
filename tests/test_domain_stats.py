"""Per-class realism statistics: known colours, noise and edges give the
known numbers; label folders are matched to images or refused clearly."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dakpn_aug import DAKPNInputError
from dakpn_aug.data.demo import make_demo_data
from dakpn_aug.data.layouts import list_images, match_labels
from dakpn_aug.domain_stats import (class_gap_closed, class_stats,
                                    class_swatches, domain_gap, format_pct,
                                    gap_closed, ycbcr)

ROOT = Path(__file__).resolve().parents[1]
ROAD, VEG = 7, 21  # Cityscapes label ids


def two_class_image(left_rgb, right_rgb, h=64, w=96, noise=0.0, seed=0):
    img = np.zeros((h, w, 3), np.float32)
    img[:, :w // 2] = np.asarray(left_rgb, np.float32) / 255
    img[:, w // 2:] = np.asarray(right_rgb, np.float32) / 255
    if noise:  # grey-level noise (the same in every channel)
        img += np.random.default_rng(seed).normal(0, noise, (h, w, 1))
    lbl = np.full((h, w), ROAD, np.uint8)
    lbl[:, w // 2:] = VEG
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8), lbl


def test_known_colours_give_known_class_statistics():
    red, green = (200, 40, 40), (30, 150, 60)
    stats = class_stats([two_class_image(red, green)])
    assert set(stats) == {ROAD, VEG}
    for cls, rgb in ((ROAD, red), (VEG, green)):
        ref = ycbcr(np.uint8(rgb).reshape(1, 1, 3))[0, 0]
        s = stats[cls]
        np.testing.assert_allclose([s['Y'], s['Cb'], s['Cr']], ref,
                                   atol=1e-6)
        # (chroma is box-averaged: the two columns at the border mix)
        assert s['C'] == pytest.approx(np.hypot(ref[1], ref[2]), rel=0.05)
        assert s['pixels'] == 64 * 48
        assert s['noise_level'] == pytest.approx(0.0, abs=1e-6)  # flat
    # Saturation of (200, 40, 40) is 160 / 200.
    assert stats[ROAD]['saturation'] == pytest.approx(0.8, abs=0.01)
    # The class boundary is an edge of both classes; the interiors are flat.
    assert stats[ROAD]['edge_strength'] > 0


def test_void_label_ids_are_not_classes_of_the_report():
    # "unlabeled" (0), "parking" (9) and 255 have train id 255: no mIoU
    # scores them, so the realism report does not either.
    img, lbl = two_class_image((200, 40, 40), (30, 150, 60))
    lbl[:8] = 0
    lbl[8:16] = 9
    lbl[16:20] = 255
    stats = class_stats([(img, lbl)])
    assert set(stats) == {ROAD, VEG}
    assert stats[ROAD]['pixels'] == (64 - 20) * 48
    # Asked to, it still measures them.
    assert 0 in class_stats([(img, lbl)], ignore=(255, ))


def test_per_class_noise_is_measured_and_not_fooled_by_edges():
    img, lbl = two_class_image((120, 120, 120), (60, 60, 60), h=128, w=192,
                               noise=0.02, seed=1)
    s = class_stats([(img, lbl)])
    for cls in (ROAD, VEG):
        assert s[cls]['noise_level'] == pytest.approx(0.02, rel=0.15)
    clean = class_stats([two_class_image((120, 120, 120), (60, 60, 60),
                                         h=128, w=192)])
    assert clean[ROAD]['noise_level'] < 0.002  # the step edge is no noise


def test_class_gap_closed_definition():
    src = class_stats([two_class_image((200, 40, 40), (30, 150, 60))])
    real = class_stats([two_class_image((120, 90, 90), (70, 100, 70))])
    half = class_stats([two_class_image((160, 65, 65), (50, 125, 65))])
    assert class_gap_closed(src, real, real, min_pixels=10)['mean'][
        'colour'] == pytest.approx(1.0)
    assert class_gap_closed(src, src, real, min_pixels=10)['mean'][
        'colour'] == pytest.approx(0.0)
    mid = class_gap_closed(src, half, real, min_pixels=10)
    assert 0.3 < mid['mean']['colour'] < 0.7
    far = class_stats([two_class_image((255, 0, 0), (0, 255, 0))])
    worse = class_gap_closed(src, far, real, min_pixels=10)
    assert worse['per_class'][ROAD]['colour'] < 0
    assert worse['worst_colour_class'] in (ROAD, VEG)
    # Too few pixels: the class is left out of the report.
    assert class_gap_closed(src, real, real, min_pixels=10**6)[
        'per_class'] == {}


def test_sampling_noise_is_half_the_split_half_difference():
    red, green, grey = (200, 40, 40), (30, 150, 60), (120, 120, 120)
    # Even images: road red; odd images: road a darker red. Vegetation is
    # the same green in every image: no sampling noise.
    dark = (150, 30, 30)
    stats = class_stats([two_class_image(red, green),
                         two_class_image(dark, green),
                         two_class_image(red, green),
                         two_class_image(dark, green)])
    a, b = (ycbcr(np.uint8(c).reshape(1, 1, 3))[0, 0] for c in (red, dark))
    noise = stats[ROAD]['sampling_noise']
    # (C is box-averaged chroma: the border columns mix; a few per cent)
    assert noise['colour'] == pytest.approx(
        np.linalg.norm(np.r_[a - b, np.hypot(a[1], a[2]) -
                             np.hypot(b[1], b[2])]) / 2, rel=0.05)
    assert noise['colour'] > 0.03
    assert stats[VEG]['sampling_noise']['colour'] == pytest.approx(
        0.0, abs=1e-3)
    # One image: no halves to compare.
    assert class_stats([two_class_image(red, grey)])[ROAD][
        'sampling_noise'] is None


def test_gaps_within_sampling_noise_are_flagged_not_averaged():
    red, green = (200, 40, 40), (30, 150, 60)
    src = class_stats([two_class_image(red, green)] * 2)
    # The real road flips between two reds far apart (noisy), its mean a
    # little off the source's; the real vegetation is a steady other green.
    real = class_stats([two_class_image((230, 40, 40), (70, 100, 70)),
                        two_class_image((180, 40, 40), (70, 100, 70))])
    grey = class_stats([two_class_image((120, 120, 120), (70, 100, 70))] * 2)
    res = class_gap_closed(src, grey, real, min_pixels=10)
    road, veg = res['per_class'][ROAD], res['per_class'][VEG]
    assert road['within_noise']['colour'] and road['colour'] < 0
    assert not veg['within_noise']['colour']
    assert road['sampling_noise']['colour'] > road['colour_distance_source']
    # Both count in the mean; only the measurable one in measurable_mean.
    assert res['mean']['colour'] == pytest.approx(
        (road['colour'] + veg['colour']) / 2)
    assert res['measurable_mean']['colour'] == pytest.approx(veg['colour'])
    json.dumps(res, allow_nan=False)
    from dakpn_aug.domain_stats import format_class_table
    table = format_class_table(dict(per_class=dict(
        stats={name: {str(c): v for c, v in st.items()} for name, st in
               (('source', src), ('translated', grey), ('real', real))},
        gap_closed=res)))
    assert 'mean over measurable gaps' in table
    assert f'| {format_pct(road["colour"])} \\* |' in table


def test_gap_closed_without_a_gap_is_none_not_nan():
    s = dict(saturation=0.4, brightness=0.5, noise_level=0.01,
             edge_strength=0.2)
    res = gap_closed(s, s, s)
    assert res['mean'] is None and res['saturation'] is None
    json.dumps(res, allow_nan=False)  # valid JSON


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('d')
    make_demo_data(root, seed=0, num_source=4, num_real_train=2,
                   num_real_val=3, source_size=(64, 96), real_size=(64, 128))
    return root


def test_labels_are_matched_by_frame_name(demo):
    imgs = list_images(demo / 'cityscapes' / 'leftImg8bit' / 'val',
                       'folder')
    labels = match_labels(imgs, demo / 'cityscapes' / 'gtFine' / 'val')
    for i, l in zip(imgs, labels):
        assert l.name == i.name.replace('_leftImg8bit', '_gtFine_labelIds')
    src = list_images(demo / 'gta5', 'gta5')
    assert [p.name for p in match_labels(src, demo / 'gta5' / 'labels')] \
        == [p.name for p in src]
    with pytest.raises(DAKPNInputError, match='does not match the images'):
        match_labels(src, demo / 'cityscapes' / 'gtFine' / 'val')
    with pytest.raises(DAKPNInputError, match='does not exist'):
        match_labels(src, demo / 'nowhere')


def test_domain_gap_with_labels_reports_per_class(demo, tmp_path):
    src = demo / 'gta5' / 'images'
    real = demo / 'cityscapes' / 'leftImg8bit' / 'val'
    res = domain_gap(src, src, real, source_labels=demo / 'gta5' / 'labels',
                     real_labels=demo / 'cityscapes' / 'gtFine' / 'val')
    pc = res['per_class']
    assert pc['gap_closed']['per_class']  # some classes qualify
    for row in pc['gap_closed']['per_class'].values():
        assert row['colour'] in (None, 0.0)  # untranslated: nothing closed
    pic = class_swatches(res)
    assert pic.dtype == np.uint8 and pic.shape[1] > 100
    with pytest.raises(ValueError, match='both domains'):
        domain_gap(src, src, real, source_labels=demo / 'gta5' / 'labels')
    # A label map of another size than its image: one clear error.
    bad = tmp_path / 'labels'
    bad.mkdir()
    for p in (demo / 'gta5' / 'labels').iterdir():
        cv2.imwrite(str(bad / p.name), np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match='but image'):
        domain_gap(src, src, real, source_labels=bad,
                   real_labels=demo / 'cityscapes' / 'gtFine' / 'val')


def test_domain_gap_cli_per_class(demo, tmp_path):
    src = demo / 'gta5' / 'images'
    out = tmp_path / 'gap.json'
    cmd = [sys.executable, 'tools/domain_gap.py', str(src), str(src),
           str(demo / 'cityscapes' / 'leftImg8bit' / 'val'),
           '--source-labels', str(demo / 'gta5' / 'labels'),
           '--real-labels', str(demo / 'cityscapes' / 'gtFine' / 'val'),
           '--out', str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert 'Per class' in res.stdout and '| road |' in res.stdout
    assert (tmp_path / 'gap_swatches.png').is_file()
    assert 'colour gap closed' in (tmp_path / 'gap.md').read_text()
    json.loads(out.read_text())
    res = subprocess.run(cmd[:7] + ['--out', str(out)], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode != 0 and 'go together' in res.stderr
    res = subprocess.run(cmd[:7] + ['--real-labels',
                                    str(demo / 'gta5' / 'labels'), '--out',
                                    str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'does not match' in res.stderr
