"""DA-KPN training: unpaired dataset, train_step, Runner, resume, DDP."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNInputError, DAKPNTranslator
from dakpn_aug import functional as DF
from dakpn_aug.data.demo import make_demo_data
from dakpn_aug.data.unpaired import UnpairedTranslationDataset

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'mmseg_configs' / 'demo' / 'dakpn_demo.py'
# Small and fast: 2 samples a batch, no workers, a small discriminator.
TINY = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.discriminator.base_channels=8',
        'model.feature_cache_size=0', 'default_hooks.logger.interval=1',
        'train_dataloader.dataset.max_source=None']


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(root, seed=1, num_source=6, num_real_train=4,
                   num_real_val=2, source_size=(96, 160),
                   real_size=(112, 192))
    return root


def dataset(demo_data, **kw):
    args = dict(source_root=demo_data / 'gta5',
                target_root=demo_data / 'cityscapes', patch_scale=4,
                length=100, seed=3)
    args.update(kw)
    return UnpairedTranslationDataset(**args)


# ------------------------------------------------------------- dataset

def test_unpaired_sample_layout_and_box(demo_data):
    ds = dataset(demo_data)
    s = ds[5]
    m = DF.BLUR_MARGIN
    assert s['source_low'].shape == (3, 96, 160)
    assert s['real_low'].shape == (3, 96, 160)
    assert s['source_patch'].shape == (3, 24 + 2 * m, 40 + 2 * m)
    assert s['real_patch'].shape == (3, 24, 40)  # same size, other domain
    assert s['full_size'].tolist() == [96, 160]
    t, l, h, w = s['box'].tolist()
    assert (h, w) == (24 + 2 * m, 40 + 2 * m)
    # The patch is exactly that window of the replicate-padded source.
    from dakpn_aug.data.readers import read_rgb
    src = read_rgb(ds.source_files[s['index']])
    padded = np.pad(src, ((m, m), (m, m), (0, 0)), mode='edge')
    expect = padded[t + m:t + m + h, l + m:l + m + w]
    got = (s['source_patch'].permute(1, 2, 0).numpy() * 255).round()
    assert np.array_equal(got.astype(np.uint8), expect)
    for k in ('source_low', 'source_patch', 'real_patch', 'real_low'):
        assert 0 <= s[k].min() and s[k].max() <= 1


def test_unpaired_sampling_is_a_function_of_seed_and_index(demo_data):
    a, b = dataset(demo_data), dataset(demo_data)
    for i in (0, 7, 42):
        for k, v in a[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b[i][k]))
    assert not torch.equal(a[0]['source_patch'], a[1]['source_patch'])
    c = dataset(demo_data, seed=4)
    assert not all(torch.equal(torch.as_tensor(a[i]['box']),
                               torch.as_tensor(c[i]['box']))
                   for i in range(5))


def test_unpaired_resizes_sources_and_targets(demo_data):
    ds = dataset(demo_data, source_size=(120, 200), target_size=(80, 160),
                 patch_scale=5)
    s = ds[0]
    assert s['full_size'].tolist() == [120, 200]
    assert s['real_patch'].shape == (3, 24, 40)


def test_unpaired_bad_inputs(demo_data, tmp_path):
    with pytest.raises(DAKPNInputError, match='does not exist'):
        dataset(demo_data, source_root=tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DAKPNInputError, match='no images found'):
        dataset(demo_data, target_root=tmp_path / 'empty')
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(DAKPNInputError, match='broken.png'):
        dataset(demo_data, source_root=bad)
    small = tmp_path / 'small'
    small.mkdir()
    import cv2
    cv2.imwrite(str(small / 'a.png'), np.zeros((10, 10, 3), np.uint8))
    ds = dataset(demo_data, target_root=small)
    with pytest.raises(DAKPNInputError, match='smaller than'):
        ds[0]


# --------------------------------------------------------------- model

@pytest.fixture(scope='module')
def model_and_optim():
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from dakpn_aug.engine import MultiOptimWrapperConstructor
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(
        type='DAKPN', encoder=dict(segmentor='fcn_tiny'),
        discriminator=dict(base_channels=8, norm='instance'),
        data_preprocessor=dict(type='BaseDataPreprocessor')))
    model.init_weights()
    optim = MultiOptimWrapperConstructor(dict(
        kpn=dict(optimizer=dict(type='Adam', lr=1e-2)),
        discriminator=dict(optimizer=dict(type='Adam', lr=1e-3))))(model)
    return model, optim


def batch(demo_data, n=2, **kw):
    ds = dataset(demo_data, **kw)
    from torch.utils.data import default_collate
    return default_collate([ds[i] for i in range(n)])


def test_train_step_updates_kpn_and_discriminator_only(demo_data,
                                                       model_and_optim):
    model, optim = model_and_optim
    enc_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    kpn_before = model.kpn.conv.weight.clone()
    d_before = next(model.discriminator.parameters()).clone()
    data = batch(demo_data)
    logs = model.train_step(data, optim)
    for key in ('loss_d_patch', 'loss_d_lowres', 'loss_g_patch',
                'loss_g_lowres', 'loss_identity', 'd_acc_real', 'd_acc_fake',
                'param_sigma_mean', 'param_noise_mean'):
        assert key in logs and torch.isfinite(logs[key]), key
    assert 0 <= float(logs['d_acc_real']) <= 1
    assert not torch.equal(model.kpn.conv.weight, kpn_before)
    assert not torch.equal(next(model.discriminator.parameters()), d_before)
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, enc_before[k]), k  # frozen, BN stats too
    # Discriminator's requires_grad is restored after the KPN step.
    assert all(p.requires_grad for p in model.discriminator.parameters())


@pytest.mark.parametrize('switches', [
    dict(kpn=dict(color_space='hsv'),
         noise=dict(mode='fixed', distribution='clamped')),  # the paper
    dict(loss_weights=dict(stats_colour=5.0, stats_texture=1.0),
         stats_loss=dict(confidence=0.3), noise='fresh'),
    dict(loss_weights=dict(stats_colour=1.0, gan_patch=0.0, gan_lowres=0.0),
         gan_mode='grad_reversal'),
    dict(loss_weights=dict(stats_colour=5.0, stats_texture=1.0,
                           stats_noise=1.0), noise='fresh'),
])
def test_every_translator_switch_builds_and_trains(demo_data, switches,
                                                    tmp_path):
    """Each recipe switch of the quality work trains a few steps and
    exports a bundle that keeps the switch."""
    import dakpn_aug.mmseg  # noqa: F401
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from dakpn_aug.engine import MultiOptimWrapperConstructor
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(
        type='DAKPN', encoder=dict(segmentor='fcn_tiny'),
        discriminator=dict(base_channels=8, norm='instance'),
        data_preprocessor=dict(type='BaseDataPreprocessor'), **switches))
    model.init_weights()
    optim = MultiOptimWrapperConstructor(dict(
        kpn=dict(optimizer=dict(type='Adam', lr=1e-2)),
        discriminator=dict(optimizer=dict(type='Adam', lr=1e-3))))(model)
    before = model.kpn.conv.bias.clone()
    for i in range(2):
        logs = model.train_step(batch(demo_data, length=100 + i), optim)
    assert all(torch.isfinite(v) for v in logs.values())
    assert not torch.equal(model.kpn.conv.bias, before)
    weights = switches.get('loss_weights', {})
    if weights.get('stats_colour'):
        assert 'loss_stats_colour' in logs
        assert model.stats_loss.real_seen[0, -1]  # real stats were gathered
    if weights.get('stats_texture'):
        assert 'loss_stats_texture' in logs
    if weights.get('stats_noise'):
        assert 'loss_stats_noise' in logs
        assert model.stats_loss.real_noise_seen[-1]
    else:  # the switch off: no noise statistics, nothing new in checkpoints
        assert not any('real_noise' in k for k in model.state_dict())
    path = model.to_translator().save(tmp_path / 'b.pth')
    tr = DAKPNTranslator.from_checkpoint(path)
    assert tr.kpn.color_space == model.kpn.color_space
    assert tr.noise == model.noise_policy
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        expected = model.to_translator().translate_batch(x)
    if model.noise_policy.mode != 'fresh':
        assert torch.equal(tr.translate_batch(x), expected)


def test_grad_reversal_reverses_the_discriminators_gradient(
        demo_data, model_and_optim):
    """The single-pass variant: the discriminator's loss reaches the KPN's
    translations with its gradient negated (the KPN maximises what D
    minimises), while D itself gets its plain gradient; and a step runs."""
    from dakpn_aug.models.dakpn import _GradReverse
    model, optim = model_and_optim
    data = model.data_preprocessor(batch(demo_data), True)
    with torch.no_grad():
        _, fake_patch, fake_low, _, _ = model._generate(data)
    grads = {}
    for name, wrap in (('plain', lambda t: t),
                       ('reversed', _GradReverse.apply)):
        patch = fake_patch.clone().requires_grad_(True)
        low = fake_low.clone().requires_grad_(True)
        model.discriminator.zero_grad()
        losses, _ = model._d_losses(data, wrap(patch), wrap(low))
        sum(losses.values()).backward()
        grads[name] = (patch.grad, low.grad, [
            p.grad.clone() for p in model.discriminator.parameters()])
    (gp, gl, gd), (rp, rl, rd) = grads['plain'], grads['reversed']
    assert gp.abs().sum() > 0
    torch.testing.assert_close(rp, -gp)  # the translations: reversed
    torch.testing.assert_close(rl, -gl)
    for a, b in zip(gd, rd):  # the discriminator: unchanged
        torch.testing.assert_close(a, b)
    model.discriminator.zero_grad()
    model.gan_mode = 'grad_reversal'
    try:
        before = model.kpn.conv.bias.clone()
        logs = model.train_step(batch(demo_data), optim)
        assert torch.isfinite(logs['loss'])
        assert not torch.equal(model.kpn.conv.bias, before)
    finally:
        model.gan_mode = 'alternating'


def test_patch_translation_equals_whole_image_translation(demo_data,
                                                          model_and_optim):
    model, _ = model_and_optim
    with torch.no_grad():
        torch.nn.init.normal_(model.kpn.conv.weight, std=0.05)
        model.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.2, 0, 0, -.05, 1.5, 1.5, 1.5, .05, .05, .05]))
    ds = dataset(demo_data)
    from dakpn_aug.data.readers import read_rgb
    for i in (0, 3, 11):
        s = ds[i]
        src = torch.from_numpy(read_rgb(ds.source_files[s['index']])).permute(
            2, 0, 1)[None].float() / 255
        with torch.no_grad():
            params = model.predict_params(model.encode(s['source_low'][None]))
            whole = DF.translate(src, params,
                                 noise=model.fixed_noise(96, 160, 'cpu'))
            patch = model.translate_patches(params, s['source_patch'][None],
                                            s['box'][None],
                                            s['full_size'][None])
        t, l, h, w = s['box'].tolist()
        m = DF.BLUR_MARGIN
        ref = whole[..., t + m:t + h - m, l + m:l + w - m]
        torch.testing.assert_close(patch, ref, atol=1e-5, rtol=0)


def test_ablation_switches(model_and_optim):
    model, _ = model_and_optim
    logits = torch.randn(1, 19, 12, 20)
    with torch.no_grad():
        torch.nn.init.normal_(model.kpn.conv.weight, std=0.5)
        model.ablation = dict(blur=False, noise=False, affine=True)
        p = model.predict_params(logits)
        assert (p[:, 6:12] == 0).all() and not (p[:, 0:3] == 1).all()
        model.ablation = dict(blur=True, noise=True, affine=False)
        p = model.predict_params(logits)
        assert (p[:, 0:3] == 1).all() and (p[:, 3:6] == 0).all()
        tr = model.to_translator()
        exported = tr.predict_params(torch.rand(1, 3, 96, 160))
        assert (exported[:, 0:3] == 1).all() and (exported[:, 3:6] == 0).all()
    model.ablation = dict(blur=True, noise=True, affine=True)
    with pytest.raises(ValueError, match='ablation'):
        type(model)(encoder=dict(segmentor='fcn_tiny'),
                    ablation=dict(colour=False))


# --------------------------------------------------------------- runner

def run_tool(args, timeout=600, env=None):
    res = subprocess.run(args, capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT,
                         env=dict(os.environ, **(env or {})))
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    return res


def train(demo_data, work_dir, iters, *extra, opts=()):
    return run_tool([
        sys.executable, 'tools/train_dakpn.py', str(CONFIG), '--work-dir',
        str(work_dir), '--source-root', str(demo_data / 'gta5'),
        '--target-root', str(demo_data / 'cityscapes'), '--max-iters',
        str(iters), '--seed', '5', *extra, '--cfg-options', *TINY, *opts
    ])


@pytest.fixture(scope='module')
def finished_run(demo_data, tmp_path_factory):
    """A finished 3-iteration run of tools/train_dakpn.py (pictures every 2
    iterations): its work dir and output. Read-only for the tests; copy it
    (:func:`copy_run`) to change it."""
    work = tmp_path_factory.mktemp('dakpn_run') / 'run'
    res = train(demo_data, work, 3, opts=['custom_hooks.0.interval=2'])
    return work, res.stdout


def copy_run(run: Path, to: Path) -> Path:
    """A copy of a run's work dir whose ``last_checkpoint`` names the
    copy's own checkpoint (mmengine writes an absolute path)."""
    import shutil
    shutil.copytree(run, to)
    marker = to / 'last_checkpoint'
    marker.write_text(str(to / Path(marker.read_text().strip()).name))
    return to


def test_train_dakpn_end_to_end_writes_bundle_and_pictures(finished_run,
                                                           tmp_path):
    run, stdout = finished_run
    bundle = run / 'dakpn_bundle.pth'
    assert bundle.is_file() and f'bundle: {bundle}' in stdout
    tr = DAKPNTranslator.from_checkpoint(bundle)
    assert tr.bundle_meta['extra']['iterations'] == 3
    pics = sorted((run / 'vis').glob('*.png'))
    assert [p.name for p in pics] == ['iter_000002.png', 'iter_000003.png']
    log = next(run.rglob('*.log')).read_text()
    assert 'eta:' in log and 'loss_identity' in log and 'd_acc_real' in log
    # export_bundle.py makes the same bundle from the run's checkpoint.
    out = tmp_path / 'exported.pth'
    run_tool([sys.executable, 'tools/export_bundle.py',
              str(run / 'dakpn_demo.py'), str(run / 'iter_3.pth'), '--out',
              str(out), '--trust'])
    exp = DAKPNTranslator.from_checkpoint(out)
    x = torch.rand(1, 3, 96, 160)
    assert torch.equal(exp.translate_batch(x), tr.translate_batch(x))


@pytest.mark.slow
def test_paper_config_trains_a_step(demo_data, tmp_path):
    """The paper-scale GTA5 -> Cityscapes config (FCN-R50-D8 encoder, HSV,
    clamped noise, 720x1280 sources, 90x160 patches) takes a real training
    step on files in the real layouts and writes a bundle that translates
    (batch and workers cut for the CPU; nothing else changed)."""
    config = ROOT / 'mmseg_configs' / 'dakpn_fcn-r50_gta2cityscapes-720x1280.py'
    work = tmp_path / 'paper'
    run_tool([sys.executable, 'tools/train_dakpn.py', str(config),
              '--work-dir', str(work), '--source-root',
              str(demo_data / 'gta5'), '--target-root',
              str(demo_data / 'cityscapes'), '--max-iters', '1',
              '--cfg-options', 'train_dataloader.batch_size=2',
              'train_dataloader.num_workers=0',
              'train_dataloader.persistent_workers=False'])
    tr = DAKPNTranslator.from_checkpoint(work / 'dakpn_bundle.pth')
    assert tr.bundle_meta['extra']['iterations'] == 1
    assert tr.kpn.color_space == 'hsv' and tr.noise.distribution == 'clamped'
    assert tr.encoder.segmentor_cfg['backbone']['depth'] == 50
    out = tr.translate_batch(torch.rand(1, 3, 90, 160))
    assert out.shape == (1, 3, 90, 160) and torch.isfinite(out).all()


def test_export_bundle_refuses_to_unpickle_without_trust(finished_run,
                                                         tmp_path,
                                                         tool_error):
    from dakpn_aug.cli.export_bundle import main
    run, _ = finished_run
    config, ckpt = run / 'dakpn_demo.py', run / 'iter_3.pth'
    assert '--trust' in tool_error(main, [config, ckpt, '--out',
                                          tmp_path / 'b.pth'])
    assert not (tmp_path / 'b.pth').exists()
    # A truncated checkpoint is broken, not untrusted: no --trust advice.
    raw = ckpt.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(raw[:len(raw) // 2])
    for extra in ([], ['--trust']):
        err = tool_error(main, [config, tmp_path / 'cut.pth', *extra])
        assert 'truncated' in err and '--trust' not in err


def test_resume_after_kill_matches_uninterrupted_run(demo_data, tmp_path):
    ck = ['default_hooks.checkpoint.interval=2']
    train(demo_data, tmp_path / 'full', 6, opts=ck)
    # Kill a run of the same command once its iteration-2 checkpoint is
    # written, then resume it.
    part = tmp_path / 'part'
    cmd = [sys.executable, 'tools/train_dakpn.py', str(CONFIG), '--work-dir',
           str(part), '--source-root', str(demo_data / 'gta5'),
           '--target-root', str(demo_data / 'cityscapes'), '--max-iters',
           '6', '--seed', '5', '--cfg-options', *TINY, *ck]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = part / 'last_checkpoint'
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if marker.is_file() and 'iter_2.pth' in marker.read_text():
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert not (part / 'dakpn_bundle.pth').exists(), 'finished before kill'
    assert not (part / 'iter_6.pth').exists()
    train(demo_data, part, 6, '--resume', opts=ck)
    logs = ' '.join(p.read_text() for p in part.rglob('*.log'))
    assert 'Advance dataloader' in logs
    a = torch.load(tmp_path / 'full' / 'dakpn_bundle.pth', weights_only=True)
    b = torch.load(part / 'dakpn_bundle.pth', weights_only=True)
    for k in a['kpn']:
        torch.testing.assert_close(a['kpn'][k], b['kpn'][k], atol=1e-6,
                                   rtol=1e-5)
    assert not torch.equal(a['kpn']['conv.bias'], torch.zeros(12))
    assert json.loads(b['meta_json'])['extra']['iterations'] == 6


def test_train_dakpn_clear_errors(demo_data, tmp_path, tool_error):
    from dakpn_aug.cli.train_dakpn import main
    err = tool_error(main, [CONFIG, '--source-root', tmp_path / 'nope',
                            '--target-root', demo_data / 'cityscapes'])
    assert 'source root folder does not exist' in err
    err = tool_error(main, [CONFIG, '--source-root', demo_data / 'gta5',
                            '--target-root', demo_data / 'cityscapes',
                            '--encoder-checkpoint', tmp_path / 'x.pth'])
    assert 'encoder checkpoint not found' in err
    base = [CONFIG, '--source-root', demo_data / 'gta5', '--target-root',
            demo_data / 'cityscapes', '--work-dir', tmp_path / 'w']
    for iters in ('0', '-5'):
        assert 'must be >= 1' in tool_error(main, base + ['--max-iters',
                                                          iters])
    assert not (tmp_path / 'w' / 'dakpn_bundle.pth').exists()
    # An empty source folder: the project's own clear error.
    empty = tmp_path / 'empty'
    (empty / 'images').mkdir(parents=True)
    (empty / 'labels').mkdir()
    err = tool_error(main, base[:2] + [empty] + base[3:] +
                     ['--max-iters', '1', '--cfg-options', *TINY])
    assert 'no images found' in err
    # A misspelt --cfg-options key: one clear line.
    err = tool_error(main, base + ['--max-iters', '1', '--cfg-options',
                                   *TINY, 'model.loss_wieghts=1'])
    assert 'loss_wieghts' in err and 'misspelt' in err
    # The tool as users run it: the same error, one line, no traceback.
    res = subprocess.run([sys.executable, 'tools/train_dakpn.py'] +
                         [str(a) for a in base[:2]] + [str(empty)] +
                         [str(a) for a in base[3:]] +
                         ['--max-iters', '1', '--cfg-options', *TINY],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'no images found' in res.stderr
    assert 'Traceback' not in res.stderr


def test_resume_or_load_from_a_bad_checkpoint_is_one_clear_error(
        demo_data, finished_run, tmp_path, tool_error):
    from dakpn_aug.cli.train_dakpn import main
    work = copy_run(finished_run[0], tmp_path / 'run')
    ckpt = work / 'iter_3.pth'
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    cmd = [CONFIG, '--work-dir', work, '--source-root', demo_data / 'gta5',
           '--target-root', demo_data / 'cityscapes', '--max-iters', '4',
           '--cfg-options', *TINY]
    assert 'corrupt or truncated' in tool_error(main, cmd + ['--resume'])
    # A pickle outside the work dir given as load_from is never unpickled.
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': ValueError('x')}, evil)
    assert 'not unpickled' in tool_error(main, cmd + [f'load_from={evil}'])


def test_ddp_on_cpu_with_torchrun(demo_data, tmp_path):
    torchrun = Path(sys.executable).with_name('torchrun')
    res = run_tool([
        str(torchrun), '--standalone', '--nproc_per_node=2',
        'tools/train_dakpn.py', str(CONFIG), '--work-dir',
        str(tmp_path / 'ddp'), '--source-root', str(demo_data / 'gta5'),
        '--target-root', str(demo_data / 'cityscapes'), '--max-iters', '2',
        '--launcher', 'pytorch', '--cfg-options', *TINY
    ], timeout=900, env={'OMP_NUM_THREADS': '1'})
    assert (tmp_path / 'ddp' / 'dakpn_bundle.pth').is_file()
    log = next((tmp_path / 'ddp').rglob('*.log')).read_text()
    assert 'Distributed training: True' in log
    assert 'DA-KPN training on 2 process(es), CPU' in log
