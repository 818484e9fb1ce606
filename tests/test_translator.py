"""DAKPNTranslator: numpy/tensor front doors, noise policies and bundles."""
import json
import zipfile

import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNCheckpointError, DAKPNInputError, DAKPNTranslator
from dakpn_aug import functional as DF
from conftest import scene_image


def make_trained_like(translator, seed=0):
    """Give the KPN non-identity weights (as if trained)."""
    g = torch.Generator().manual_seed(seed)
    conv = translator.kpn.conv
    with torch.no_grad():
        conv.weight.copy_(0.01 * torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.tensor([0.1, -0.2, 0.05, 0.0, 0.02, -0.05,
                                      1.2, 1.0, 0.8, 0.05, 0.05, 0.05]))
    return translator


@pytest.fixture
def translator(tiny_translator):
    tiny_translator.kpn.reset_to_identity()
    tiny_translator.noise = type(tiny_translator.noise)('fixed', 0)
    return tiny_translator


def uint8_image(h=90, w=130, seed=0):
    return (scene_image(h, w, seed)[0].permute(1, 2, 0).numpy() *
            255).round().astype(np.uint8)


def test_identity_translator_returns_image_unchanged(translator):
    img = uint8_image()
    out = translator(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, img)


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16, np.float32,
                                   np.float64])
def test_supported_dtypes_keep_shape_and_dtype(translator, dtype):
    make_trained_like(translator)
    base = scene_image(64, 96)[0].permute(1, 2, 0).numpy()
    if dtype == np.uint8:
        img = (base * 255).round().astype(dtype)
    elif dtype == np.uint16:
        img = (base * 65535).round().astype(dtype)
    else:
        img = base.astype(dtype)
    out = translator(img)
    assert out.dtype == img.dtype and out.shape == img.shape
    assert not np.array_equal(out, img)  # it did translate


@pytest.mark.parametrize('bad, match', [
    (np.zeros((40, 50), np.uint8), 'greyscale'),
    (np.zeros((40, 50, 1), np.uint8), 'greyscale'),
    (np.zeros((40, 50, 4), np.uint8), 'RGBA'),
    (np.zeros((40, 50, 3), np.int32), 'dtype'),
    (np.zeros((40, 50, 3), bool), 'dtype'),
    (np.full((40, 50, 3), 2.0, np.float32), r'\[0, 1\]'),
    (np.full((40, 50, 3), np.nan, np.float32), 'NaN'),
    (np.zeros((0, 50, 3), np.uint8), 'empty'),
    (np.zeros((40, 50, 2), np.uint8), 'HxWx3'),
    ([[1, 2, 3]], 'numpy'),
])
def test_bad_images_raise_one_clear_error(translator, bad, match):
    with pytest.raises(DAKPNInputError, match=match):
        translator(bad)


def test_bad_batches_raise(translator):
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        translator.translate_batch(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match='float'):
        translator.translate_batch(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match='numpy'):
        translator.translate_batch(np.zeros((1, 3, 8, 8), np.float32))


def test_predict_params_shape_and_batch_translation(translator):
    make_trained_like(translator)
    x = torch.cat([scene_image(120, 200, seed=s) for s in range(3)])
    p = translator.predict_params(x)
    assert p.shape == (3, 12, 96, 160)
    out = translator.translate_batch(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert 0 <= out.min() and out.max() <= 1
    # Same thing through the functional core with the same noise.
    noise = translator.noise_for(x.shape)
    torch.testing.assert_close(out, DF.translate(x, p, noise))


def test_labels_geometry_bright_pixel_stays_put(translator):
    make_trained_like(translator)
    img = np.zeros((96, 160, 3), np.uint8)
    img[40, 70] = 255
    translator.noise = type(translator.noise)('none')
    out = translator(img).astype(np.float64).sum(-1)
    yy, xx = np.mgrid[:96, :160]
    # The colour bias lifts everything a little; subtract the background.
    bg = np.median(out)
    mass = np.clip(out - bg, 0, None)
    assert abs((mass * yy).sum() / mass.sum() - 40) < 0.05
    assert abs((mass * xx).sum() / mass.sum() - 70) < 0.05


def test_noise_policies(translator):
    make_trained_like(translator)
    x = scene_image(64, 96).repeat(2, 1, 1, 1)
    translator.noise = type(translator.noise)('fixed', 3)
    a = translator.translate_batch(x)
    assert torch.equal(a, translator.translate_batch(x))
    assert torch.equal(a[0], a[1])  # one field for every image

    def fresh(seed):
        tr = translator
        tr.noise = type(tr.noise)('fresh', seed)
        tr._generator.manual_seed(seed)
        return tr.translate_batch(x), tr.translate_batch(x)

    f1, f2 = fresh(1)
    g1, g2 = fresh(1)
    assert not torch.equal(f1, f2) and not torch.equal(f1[0], f1[1])
    assert torch.equal(f1, g1) and torch.equal(f2, g2)  # same seed, same run

    translator.noise = type(translator.noise)('none')
    p = translator.predict_params(x)
    torch.testing.assert_close(translator.translate_batch(x),
                               DF.translate(x, p, None))
    gen = torch.Generator().manual_seed(9)
    translator.noise = type(translator.noise)('fixed', 0)
    h1 = translator.translate_batch(x, generator=gen)
    gen.manual_seed(9)
    assert torch.equal(h1, translator.translate_batch(x, generator=gen))


def test_bundle_round_trip(translator, tmp_path):
    make_trained_like(translator, seed=4)
    path = translator.save(tmp_path / 'sub' / 'bundle.pth',
                           extra_meta={'iters': 10})
    # Plain weights-only load works: only tensors and strings inside.
    raw = torch.load(path, weights_only=True)
    assert raw['format'] == 'dakpn-bundle'
    meta = json.loads(raw['meta_json'])
    assert meta['encoder']['input_size'] == [96, 160]
    assert meta['extra'] == {'iters': 10}
    assert meta['class_names'][0] == 'road'
    loaded = DAKPNTranslator.from_checkpoint(path)
    img = uint8_image(70, 110, seed=2)
    assert np.array_equal(loaded(img), translator(img))
    assert loaded.noise == translator.noise
    assert loaded.class_names == translator.class_names
    assert not any(p.requires_grad for p in loaded.encoder.parameters())


def test_bundle_loads_on_device(translator, tmp_path, device):
    make_trained_like(translator)
    path = translator.save(tmp_path / 'b.pth')
    loaded = DAKPNTranslator.from_checkpoint(path, device=device)
    x = scene_image(48, 64).to(device)
    assert loaded.translate_batch(x).device.type == device.type


class _Evil:
    pass


def _bad_files(tmp_path, good):
    raw = good.read_bytes()
    files = {}
    files['missing'] = (tmp_path / 'missing.pth', 'does not exist')
    (tmp_path / 'dir.pth').mkdir()
    files['directory'] = (tmp_path / 'dir.pth', 'not a file')
    (tmp_path / 'empty.pth').write_bytes(b'')
    files['empty'] = (tmp_path / 'empty.pth', 'empty')
    (tmp_path / 'trunc.pth').write_bytes(raw[:len(raw) // 2])
    files['truncated'] = (tmp_path / 'trunc.pth', 'truncated')
    (tmp_path / 'junk.pth').write_bytes(b'\x00garbage' * 100)
    files['junk'] = (tmp_path / 'junk.pth', 'corrupt')
    torch.save({'format': 'dakpn-bundle', 'x': _Evil()}, tmp_path / 'ev.pth')
    files['pickle'] = (tmp_path / 'ev.pth', 'never unpickled')
    torch.save({'state_dict': {'a': torch.zeros(1)}}, tmp_path / 'sd.pth')
    files['mmengine'] = (tmp_path / 'sd.pth', 'not a DA-KPN bundle')
    data = torch.load(good, weights_only=True)
    future = dict(data, format_version=99)
    torch.save(future, tmp_path / 'future.pth')
    files['future'] = (tmp_path / 'future.pth', 'version 99')
    meta = dict(data, meta_json='{not json')
    torch.save(meta, tmp_path / 'meta.pth')
    files['meta'] = (tmp_path / 'meta.pth', 'metadata')
    mism = dict(data, kpn=dict(data['kpn']))
    mism['kpn']['conv.weight'] = torch.zeros(12, 5, 3, 3)
    torch.save(mism, tmp_path / 'mism.pth')
    files['mismatch'] = (tmp_path / 'mism.pth', 'do not match')
    meta2 = json.loads(data['meta_json'])
    meta2['encoder']['segmentor']['type'] = 'NoSuchSegmentor'
    torch.save(dict(data, meta_json=json.dumps(meta2)), tmp_path / 'u.pth')
    files['unregistered'] = (tmp_path / 'u.pth', 'not a model registered')
    meta3 = json.loads(data['meta_json'])
    meta3['encoder']['segmentor']['no_such_argument'] = 1
    torch.save(dict(data, meta_json=json.dumps(meta3)), tmp_path / 'a.pth')
    files['arch'] = (tmp_path / 'a.pth', 'cannot build')
    nan = dict(data, kpn=dict(data['kpn']))
    nan['kpn']['conv.bias'] = torch.full_like(data['kpn']['conv.bias'],
                                              float('nan'))
    torch.save(nan, tmp_path / 'nan.pth')
    files['nan weights'] = (tmp_path / 'nan.pth', 'NaN')
    for name, key, value, reason in (
            ('size', ('encoder', 'input_size'), [96], 'input_size'),
            ('noise', ('noise', ), {'mode': 'loud'}, 'noise policy'),
            ('noise law', ('noise', ), {'mode': 'fixed',
                                        'distribution': 'pink'},
             'noise policy'),
            ('blur', ('blur_mode', ), 'gaussian', 'blur_mode'),
            ('classes', ('class_names', ), [1, 2], 'class_names')):
        m = json.loads(data['meta_json'])
        target = m
        for k in key[:-1]:
            target = target[k]
        target[key[-1]] = value
        torch.save(dict(data, meta_json=json.dumps(m)),
                   tmp_path / f'm_{name}.pth')
        files[f'metadata {name}'] = (tmp_path / f'm_{name}.pth', reason)
    return files


def _code_running_bundles(tmp_path, good, marker):
    """Bundles whose metadata would run code if the loader executed or
    imported what it names (issue: a bundle is data, never code)."""
    data = torch.load(good, weights_only=True)
    script = tmp_path / 'evil_config.py'
    script.write_text(f'open({str(marker)!r}, "w").write("ran")\n'
                      'model = dict(type="EncoderDecoder")\n')
    (tmp_path / 'sub').mkdir()

    def with_segmentor(name, segmentor):
        meta = json.loads(data['meta_json'])
        if callable(segmentor):
            segmentor(meta['encoder']['segmentor'])
        else:
            meta['encoder']['segmentor'] = segmentor
        path = tmp_path / f'{name}.pth'
        torch.save(dict(data, meta_json=json.dumps(meta)), path)
        return path

    def nested(seg):
        seg['backbone']['type'] = 'subprocess.Popen'
        seg['backbone']['args'] = ['touch', str(marker)]

    def top(seg):
        seg['type'] = 'os.system'
        seg['command'] = f'touch {marker}'

    return {
        'absolute config path': (with_segmentor('abs', str(script)),
                                 'not a preset'),
        'relative config path': (with_segmentor(
            'rel', f'sub/../{script.name}'), 'not a preset'),
        'dotted type (nested)': (with_segmentor('nested', nested),
                                 "type='subprocess.Popen'"),
        'dotted type (top)': (with_segmentor('top', top), "type='os.system'"),
        'not a dict': (with_segmentor('list', [1, 2]), 'must be a dict'),
    }


def test_bundle_metadata_never_runs_code(translator, tmp_path, monkeypatch):
    good = translator.save(tmp_path / 'good.pth')
    marker = tmp_path / 'code_ran'
    monkeypatch.chdir(tmp_path)  # the relative path resolves from here
    for name, (path, reason) in _code_running_bundles(
            tmp_path, good, marker).items():
        with pytest.raises(DAKPNCheckpointError) as info:
            DAKPNTranslator.from_checkpoint(path)
        assert reason in str(info.value), (name, str(info.value))
        assert str(path) in str(info.value), name
        assert not marker.exists(), f'{name}: loading ran code'


def test_bundle_weight_sources_in_metadata_are_ignored(translator, tmp_path):
    """init_cfg / pretrained in a bundle's encoder config would load (or
    download) another file; the bundle's own weights are what is used."""
    good = translator.save(tmp_path / 'good.pth')
    data = torch.load(good, weights_only=True)
    meta = json.loads(data['meta_json'])
    seg = meta['encoder']['segmentor']
    seg['pretrained'] = str(tmp_path / 'elsewhere.pth')
    seg['backbone']['init_cfg'] = dict(type='Pretrained',
                                       checkpoint='http://example.invalid/x')
    torch.save(dict(data, meta_json=json.dumps(meta)), tmp_path / 'w.pth')
    loaded = DAKPNTranslator.from_checkpoint(tmp_path / 'w.pth')
    assert 'pretrained' not in loaded.encoder.segmentor_cfg
    assert 'init_cfg' not in loaded.encoder.segmentor_cfg['backbone']
    img = uint8_image(40, 60)
    assert np.array_equal(loaded(img), translator(img))


def test_every_bad_bundle_raises_one_clear_error(translator, tmp_path):
    good = translator.save(tmp_path / 'good.pth')
    assert zipfile.is_zipfile(good)
    for name, (path, reason) in _bad_files(tmp_path, good).items():
        with pytest.raises(DAKPNCheckpointError) as info:
            DAKPNTranslator.from_checkpoint(path)
        msg = str(info.value)
        assert str(path) in msg, name
        assert reason in msg, (name, msg)


def test_version_1_bundles_keep_the_paper_formulation(translator, tmp_path):
    """Bundles written before the colour space and noise law were stored
    translate as they did: HSV affine, clamped noise."""
    make_trained_like(translator)
    good = translator.save(tmp_path / 'new.pth')
    loaded = DAKPNTranslator.from_checkpoint(good)
    assert loaded.kpn.color_space == 'ycbcr'
    assert loaded.noise.distribution == 'gaussian'
    data = torch.load(good, weights_only=True)
    meta = json.loads(data['meta_json'])
    del meta['kpn']['color_space'], meta['noise']['distribution']
    meta['format_version'] = 1
    torch.save(dict(data, format_version=1, meta_json=json.dumps(meta)),
               tmp_path / 'v1.pth')
    old = DAKPNTranslator.from_checkpoint(tmp_path / 'v1.pth')
    assert old.kpn.color_space == 'hsv'
    assert old.noise.distribution == 'clamped'
    x = scene_image(40, 60)
    params = old.predict_params(x)
    noise = DF.make_noise((1, 3, 40, 60), seed=old.noise.seed,
                          distribution='clamped')
    torch.testing.assert_close(
        old.translate_batch(x),
        DF.translate(x, params, noise, color_space='hsv'))


def test_save_on_a_full_disk_is_one_clear_error(translator, tmp_path,
                                                monkeypatch):
    good = translator.save(tmp_path / 'b.pth')
    before = good.read_bytes()

    def full_disk(obj, f, *a, **k):
        with open(f, 'wb') as fh:
            fh.write(b'PK\x03\x04 partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(OSError, match='cannot write DA-KPN bundle .*No '
                       'space left'):
        translator.save(good)
    assert good.read_bytes() == before  # the old bundle is untouched
    assert [p.name for p in tmp_path.iterdir()] == ['b.pth']  # no temp file


def test_copies_and_pickles_keep_the_noise_stream(tiny_translator):
    """A deepcopy or a pickle (spawned workers) of a translator draws the
    same fresh noise as the original (torch < 2.2 cannot pickle the
    generator itself)."""
    import copy
    import pickle
    tr = copy.deepcopy(tiny_translator)
    tr.noise = 'fresh'
    tr.noise_for((1, 3, 8, 8))  # advance the stream a little
    for twin in (copy.deepcopy(tr), pickle.loads(pickle.dumps(tr))):
        torch.testing.assert_close(twin.noise_for((1, 3, 8, 8)),
                                   copy.deepcopy(tr).noise_for((1, 3, 8, 8)))
    assert not torch.equal(tr.noise_for((1, 3, 8, 8)),
                           tr.noise_for((1, 3, 8, 8)))



def test_reduced_precision_encoder_is_opt_in_and_close(tiny_translator):
    """encoder_dtype='bfloat16' runs the encoder under autocast: float32
    logits and translation, parameters close to float32's; bad names are
    one clear error; None restores float32 exactly."""
    tr = make_trained_like(tiny_translator)
    img = scene_image(96, 160, seed=3)
    assert tr.encoder_dtype is None
    ref_logits = tr.encoder(img)
    ref = tr.predict_params(img)
    tr.encoder_dtype = 'bfloat16'
    assert tr.encoder_dtype == torch.bfloat16
    logits = tr.encoder(img)
    assert logits.dtype == torch.float32
    assert not torch.equal(logits, ref_logits)  # it did run in bfloat16
    # bfloat16 keeps ~3 significant digits of the logits.
    scale = float(ref_logits.abs().max())
    assert float((logits - ref_logits).abs().max()) < 0.05 * scale
    params = tr.predict_params(img)
    assert params.dtype == torch.float32
    assert float((params - ref).abs().max()) < 0.05
    out = tr.translate_batch(img)
    assert out.dtype == torch.float32 and out.shape == img.shape
    with pytest.raises(ValueError, match='encoder dtype must be one of'):
        tr.encoder_dtype = 'int8'
    tr.encoder_dtype = None
    assert torch.equal(tr.predict_params(img), ref)


def test_bundle_loads_with_a_reduced_precision_encoder(translator, tmp_path):
    path = translator.save(tmp_path / 'b.pth')
    tr = DAKPNTranslator.from_checkpoint(path, encoder_dtype='bfloat16')
    assert tr.encoder_dtype == torch.bfloat16
    assert DAKPNTranslator.from_checkpoint(path).encoder_dtype is None
