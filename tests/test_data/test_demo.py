"""The seeded demo-data generator (dakpn_aug.data.demo and
tools/make_demo_data.py): layout, determinism, label ids, pixel-exact labels
and the direction of the synthetic -> real gap."""
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dakpn_aug.data import demo as D
from dakpn_aug.data.cityscapes_labels import CITYSCAPES_LABELS, NAME_TO_ID

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(num_source=6, num_real_train=6, num_real_val=3,
             source_size=(96, 160), real_size=(88, 176))
TINY = dict(num_source=2, num_real_train=2, num_real_val=1,
            source_size=(64, 96), real_size=(48, 80))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    return out, D.make_demo_data(out, seed=3, **SMALL)


def read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def rgb(path) -> np.ndarray:
    return cv2.cvtColor(read(path), cv2.COLOR_BGR2RGB)


def pairs(out, summary, domain):
    """(image path, label path) of one domain, in order."""
    f = summary['folders']
    if domain == 'source':
        imgs = sorted((out / f['source_images']).glob('*.png'))
        return [(p, out / f['source_labels'] / p.name) for p in imgs]
    res = []
    for split in ('train', 'val'):
        for p in sorted((out / f[f'real_{split}_images']).glob('*.png')):
            lbl = p.name.replace('_leftImg8bit.png', '_gtFine_labelIds.png')
            res.append((p, out / f[f'real_{split}_labels'] / lbl))
    return res


def all_files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob('*')) if p.is_file()}


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------
def test_layout_and_summary(data):
    out, s = data
    assert json.loads((out / 'demo_data.json').read_text()) == s
    assert s['seed'] == 3
    assert s['counts'] == dict(source=6, real_train=6, real_val=3)
    assert s['sizes_hw'] == dict(source=[96, 160], real=[88, 176])
    assert s['folders'] == {
        'source_images': 'gta5/images', 'source_labels': 'gta5/labels',
        'real_train_images': 'cityscapes/leftImg8bit/train/demotown',
        'real_train_labels': 'cityscapes/gtFine/train/demotown',
        'real_val_images': 'cityscapes/leftImg8bit/val/valville',
        'real_val_labels': 'cityscapes/gtFine/val/valville'}
    names = [f'{i:05d}.png' for i in range(6)]
    for key in ('source_images', 'source_labels'):
        assert sorted(p.name for p in (out / s['folders'][key]).iterdir()) \
            == names
    for split, city, n in (('train', 'demotown', 6), ('val', 'valville', 3)):
        for kind, suffix in (('leftImg8bit', 'leftImg8bit'),
                             ('gtFine', 'gtFine_labelIds')):
            folder = out / 'cityscapes' / kind / split / city
            assert sorted(p.name for p in folder.iterdir()) == [
                f'{city}_{i:06d}_000019_{suffix}.png' for i in range(n)]
    # Nothing else was written.
    assert sorted(p.name for p in out.iterdir()) == [
        'cityscapes', 'demo_data.json', 'gta5']
    assert sorted(p.name for p in (out / 'cityscapes').iterdir()) == [
        'gtFine', 'leftImg8bit']


def test_summary_documents_the_camera_model(data):
    out, s = data
    cm = s['camera_model']
    assert cm['order'] == ['white_balance_exposure', 'desaturation',
                           'class_looks', 'optical_blur', 'sensor_noise',
                           'vignetting', 'quantisation']
    assert s['camera'] == 'demo' and cm['class_looks'] == {}
    assert cm['desaturation']['saturation_scale'] == [0.55, 0.75]
    assert cm['optical_blur']['sigma_px'] == [1.0, 1.8]
    assert cm['sensor_noise']['noise_std'] == [0.02, 0.04]
    # The parameters drawn for each real image lie in the documented ranges.
    assert len(s['real_images']) == 9
    ranges = dict(cm['white_balance_exposure'],
                  saturation_scale=cm['desaturation']['saturation_scale'],
                  sigma_px=cm['optical_blur']['sigma_px'],
                  noise_std=cm['sensor_noise']['noise_std'],
                  vignetting=cm['vignetting']['strength'])
    for entry in s['real_images']:
        assert (out / entry['file']).is_file()
        for k, v in entry['camera'].items():
            if k == 'motion_blur':
                assert isinstance(v, bool)
            else:
                lo, hi = ranges[k]
                assert lo - 1e-4 <= v <= hi + 1e-4, (k, v)


def test_images_and_labels_match_pairwise(data):
    out, s = data
    for domain, key in (('source', 'source'), ('real', 'real')):
        h, w = s['sizes_hw'][key]
        ps = pairs(out, s, domain)
        assert len(ps) == (6 if domain == 'source' else 9)
        for img_path, lbl_path in ps:
            img, lbl = read(img_path), read(lbl_path)
            assert img.dtype == np.uint8 and img.shape == (h, w, 3)
            assert lbl.dtype == np.uint8 and lbl.shape == (h, w)


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------
def test_label_ids_come_from_the_official_table():
    by_name = {lb.name: lb.id for lb in CITYSCAPES_LABELS}
    assert D.LABEL_IDS == {n: by_name[n] for n in D.LABEL_NAMES}
    assert D.LABEL_IDS['road'] == NAME_TO_ID['road']


def test_label_values_are_allowed_ids(data):
    out, s = data
    allowed = set(D.LABEL_IDS.values())
    ids = {n: NAME_TO_ID[n] for n in ('road', 'sidewalk', 'building', 'sky')}
    union = set()
    for domain in ('source', 'real'):
        for _, lbl_path in pairs(out, s, domain):
            values = set(np.unique(read(lbl_path)).tolist())
            assert values <= allowed, values - allowed
            # Every street scene has at least these.
            assert set(ids.values()) <= values, lbl_path.name
            union |= values
    assert sorted(union) == s['label_ids_present']
    for names in (['road'], ['sidewalk'], ['building'], ['wall', 'fence'],
                  ['pole'], ['traffic light', 'traffic sign'],
                  ['vegetation'], ['terrain'], ['sky'], ['person'], ['car']):
        assert union & {NAME_TO_ID[n] for n in names}, names


def _boundary_colour_change(img: np.ndarray, lbl: np.ndarray) -> float:
    """Share of horizontal and vertical label boundaries (neighbouring pixels
    with different labels) across which the colour changes too."""
    img, lbl = img.astype(np.int16), lbl.astype(np.int16)
    shares = []
    for axis in (0, 1):
        edge = np.diff(lbl, axis=axis) != 0
        change = np.abs(np.diff(img, axis=axis)).max(-1) > 0
        shares.append(change[edge])
    return float(np.concatenate(shares).mean())


def test_synthetic_labels_are_pixel_exact(data):
    out, s = data
    for img_path, lbl_path in pairs(out, s, 'source'):
        img, lbl = rgb(img_path), read(lbl_path)
        assert _boundary_colour_change(img, lbl) >= 0.99, img_path.name
        # Control: labels off by one pixel fail the same check, so it can.
        assert _boundary_colour_change(img, np.roll(lbl, 1, axis=1)) < 0.9


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(tmp_path):
    D.make_demo_data(tmp_path / 'a', seed=7, **TINY)
    D.make_demo_data(tmp_path / 'b', seed=7, **TINY)
    a, b = all_files(tmp_path / 'a'), all_files(tmp_path / 'b')
    assert len(a) == 2 * (2 + 2 + 1) + 1
    assert a == b


def test_different_seed_gives_different_images(tmp_path):
    D.make_demo_data(tmp_path / 'a', seed=7, **TINY)
    D.make_demo_data(tmp_path / 'b', seed=8, **TINY)
    a, b = all_files(tmp_path / 'a'), all_files(tmp_path / 'b')
    assert a.keys() == b.keys()
    for name in a:
        if name.endswith('.png'):
            assert a[name] != b[name], name


def test_streams_are_independent_and_reruns_drop_stale_files(tmp_path):
    D.make_demo_data(tmp_path, seed=7, **TINY)
    before = all_files(tmp_path)
    # Fewer synthetic images: the real ones stay the same and the extra
    # synthetic files are removed.
    D.make_demo_data(tmp_path, seed=7, **dict(TINY, num_source=1))
    after = all_files(tmp_path)
    assert sorted(n for n in after if n.startswith('gta5/')) == [
        'gta5/images/00000.png', 'gta5/labels/00000.png']
    for name, content in after.items():
        if name != 'demo_data.json':
            assert before[name] == content, name


def test_the_real_domain_is_made_of_other_scenes(data):
    out, s = data
    src = [read(lp) for _, lp in pairs(out, s, 'source')]
    real = [read(lp) for _, lp in pairs(out, s, 'real')]
    small = [cv2.resize(x, (40, 24), interpolation=cv2.INTER_NEAREST)
             for x in src + real]
    for i in range(len(small)):
        for j in range(i):
            assert (small[i] != small[j]).mean() > 0.05, (i, j)


# --------------------------------------------------------------------------
# The gap between the domains
# --------------------------------------------------------------------------
_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def saturation(img):
    return float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)[..., 1].mean()
                 / 255)


def gradients(img):
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0),
                    cv2.Sobel(g, cv2.CV_32F, 0, 1))


def noise_level(img):
    """Robust noise std estimate, [0, 1] units: the median absolute response
    of a second-difference filter that cancels planes (edges are a minority
    of pixels, so the median ignores them)."""
    x = img.astype(np.float32) / 255
    r = cv2.filter2D(x, -1, _LAPLACE)[1:-1, 1:-1]
    return float(np.median(np.abs(r)) / (0.6745 * 6))


@pytest.fixture(scope='module')
def domain_stats(data):
    out, s = data
    res = {}
    for domain in ('source', 'real'):
        imgs = [rgb(p) for p, _ in pairs(out, s, domain)]
        res[domain] = dict(
            saturation=np.array([saturation(x) for x in imgs]),
            edge=np.array([gradients(x).mean() for x in imgs]),
            sharpest=np.array([np.percentile(gradients(x), 99)
                               for x in imgs]),
            noise=np.array([noise_level(x) for x in imgs]))
    return res


def test_real_domain_is_less_saturated(domain_stats):
    src, real = domain_stats['source'], domain_stats['real']
    # Desaturation by 0.55-0.75 plus greyer scene colours.
    assert real['saturation'].mean() < 0.7 * src['saturation'].mean()


def test_real_domain_has_softer_edges(domain_stats):
    src, real = domain_stats['source'], domain_stats['real']
    # Mean gradient magnitude drops despite the added noise...
    assert real['edge'].mean() < 0.75 * src['edge'].mean()
    # ...and the sharpest edges of every real image are softer than those
    # of any synthetic one (blur sigma >= 1 px).
    assert real['sharpest'].max() < 0.6 * src['sharpest'].min()


def test_real_domain_is_noisier(domain_stats):
    src, real = domain_stats['source'], domain_stats['real']
    assert real['noise'].min() > 3 * src['noise'].max()
    # In the documented range (std 0.02-0.04 at mid grey; these images are
    # darker than mid grey and vignetted).
    assert 0.01 < real['noise'].mean() < 0.045


def test_real_scene_statistics_differ():
    """Before the camera: more vegetation and greyer cars in the real style."""
    veg, car_sat = {}, {}
    for name, style in (('syn', D.SYNTHETIC_STYLE), ('real', D.REAL_STYLE)):
        v, c = [], []
        for i in range(10):
            img, lbl = D.render_scene(np.random.default_rng(100 + i),
                                      (72, 120), style)
            v.append((lbl == NAME_TO_ID['vegetation']).mean())
            cars = lbl == NAME_TO_ID['car']
            if cars.any():
                c.append(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1][cars]
                         .mean())
        veg[name], car_sat[name] = np.mean(v), np.mean(c)
    assert veg['real'] > 2 * veg['syn']
    assert car_sat['real'] < 0.85 * car_sat['syn']


def test_camera_model_desaturates_by_the_recorded_scale():
    img, _ = D.render_scene(np.random.default_rng(5), (72, 120),
                            D.SYNTHETIC_STYLE)
    s0 = saturation(np.rint(img * 255).astype(np.uint8))
    for i in range(6):
        out, p = D.apply_camera(img, np.random.default_rng(i))
        ratio = saturation(out) / s0
        # Blur mixes neighbouring colours, so a little below the scale.
        assert 0.4 < ratio < 0.8, (ratio, p)
        assert p['saturation_scale'] - 0.15 < ratio < \
            p['saturation_scale'] + 0.03, (ratio, p)


def test_camera_model_moves_nothing():
    """Blur, noise and vignetting keep an edge where it was: labels stay
    aligned."""
    h, w = 64, 96
    img = np.full((h, w, 3), 0.2, np.float32)
    img[:, 40:] = 0.8
    outs = [D.apply_camera(img, np.random.default_rng(i))[0]
            for i in range(8)]
    profile = np.mean([o.astype(np.float32).mean(axis=(0, 2)) for o in outs],
                      axis=0)
    # The edge lies between columns 39 and 40: the profile crosses its
    # midpoint there.
    mid = (profile[30] + profile[50]) / 2
    assert profile[38] < mid < profile[41]
    assert abs((profile[39] + profile[40]) / 2 - mid) < 0.05 * (
        profile[50] - profile[30])


# --------------------------------------------------------------------------
# Arguments and the CLI
# --------------------------------------------------------------------------
@pytest.mark.parametrize('kwargs', [dict(seed=-1), dict(num_source=-1),
                                    dict(source_size=(16, 64)),
                                    dict(city_train='bad_city')])
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        D.make_demo_data(tmp_path / 'x', **dict(TINY, **kwargs))
    assert not (tmp_path / 'x').exists()


def test_cli(tmp_path):
    cmd = [sys.executable, str(ROOT / 'tools' / 'make_demo_data.py'),
           str(tmp_path / 'out'), '--seed', '5', '--num-source', '2',
           '--num-real-train', '1', '--num-real-val', '1',
           '--source-size', '48x80', '--real-size', '40x72']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert re.search(r'synthetic\s+2 x 48x80', res.stdout), res.stdout
    s = json.loads((tmp_path / 'out' / 'demo_data.json').read_text())
    assert s['seed'] == 5 and s['sizes_hw']['real'] == [40, 72]
    img = read(tmp_path / 'out' / 'cityscapes' / 'leftImg8bit' / 'val' /
               'valville' / 'valville_000000_000019_leftImg8bit.png')
    assert img.shape == (40, 72, 3)
    bad = subprocess.run(cmd[:3] + ['--source-size', '48by80'],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and 'HxW' in bad.stderr
