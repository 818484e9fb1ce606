"""Stage 2 (dakpn_aug.uda): the paired dataset never reads target labels,
target labels never reach a loss, one translation path, the methods do
what their papers say, and tools/train_uda.py resumes exactly, runs under
DDP on CPU and exports a segmentor plain mmseg loads."""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dakpn_aug  # noqa: F401
import dakpn_aug.mmseg  # noqa: F401
from dakpn_aug.data.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'mmseg_configs' / 'uda' / 'demo'
METHODS = ['OutputAdversarial', 'EMASelfTraining']
# Small and fast: 2 pairs a batch, no workers, small discriminators.
TINY = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1']


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('uda_demo')
    make_demo_data(root, seed=2, num_source=6, num_real_train=4,
                   num_real_val=2, source_size=(96, 160),
                   real_size=(96, 160))
    return root


@pytest.fixture(scope='module')
def bundle(tmp_path_factory, tiny_translator):
    path = tmp_path_factory.mktemp('uda_bundle') / 'bundle.pth'
    tr = copy.deepcopy(tiny_translator)
    with torch.no_grad():  # a visible, non-identity translation
        tr.kpn.conv.bias[:3] += 0.3
    tr.noise = dakpn_aug.NoisePolicy(mode='fresh', seed=0)
    tr.save(path)
    return path


def load_cfg(name, data, bundle=None, methods=None):
    from mmengine.config import Config
    cfg = Config.fromfile(str(CFG / name))
    ds = cfg.train_dataloader.dataset
    ds.source.data_root = str(data / 'gta5')
    ds.target.data_root = str(data / 'cityscapes')
    if bundle is not None:
        cfg.model.translation = dict(checkpoint=str(bundle), prob=1.0)
    if methods is not None:
        cfg.model.methods = methods
    return cfg


def build(cfg, seed=0):
    from mmseg.registry import DATASETS, MODELS

    from dakpn_aug.engine import MultiOptimWrapperConstructor
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_cfg = dict(cfg.optim_wrapper)
    optim_cfg.pop('constructor')
    optim = MultiOptimWrapperConstructor(optim_cfg)(model)
    return model, optim, DATASETS.build(cfg.train_dataloader.dataset)


def both_methods():
    return [dict(type='OutputAdversarial', weight=0.01, aux_weight=0.002,
                 base_channels=8),
            dict(type='EMASelfTraining', threshold=0.1)]


def both_optims(cfg):
    disc = dict(optimizer=dict(type='Adam', lr=1e-3))
    cfg.optim_wrapper.discriminator = disc
    cfg.optim_wrapper.discriminator_aux = disc


def batch_of(ds, indices):
    from mmengine.dataset import pseudo_collate
    return pseudo_collate([ds[i] for i in indices])


def train_steps(model, optim, batches):
    logs = [model.train_step(copy.deepcopy(b), optim) for b in batches]
    return logs, {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- dataset

def test_target_pipeline_never_loads_labels():
    from dakpn_aug.uda import strip_target_labels
    pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='RandomCrop', crop_size=(8, 8), cat_max_ratio=0.75),
            dict(type='RandomChoice', transforms=[[
                dict(type='mmseg.LoadAnnotations')]]),
            dict(type='PackSegInputs')]
    out = strip_target_labels(pipe)
    assert [t['type'] for t in out] == ['LoadImageFromFile', 'RandomCrop',
                                        'RandomChoice', 'PackSegInputs']
    assert out[1]['cat_max_ratio'] == 1.0
    assert pipe[1]['type'] == 'LoadAnnotations'  # the input is not changed


def test_pairs_are_seeded_and_targets_unlabelled(demo_data):
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data)
    _, _, ds = build(cfg)
    a, b = ds[3], ds[3]
    assert torch.equal(a['source']['inputs'], b['source']['inputs'])
    assert torch.equal(a['target']['inputs'], b['target']['inputs'])
    assert 'gt_sem_seg' in a['source']['data_samples']
    assert 'gt_sem_seg' not in a['target']['data_samples']
    targets = {ds[i]['target']['data_samples'].img_path for i in range(12)}
    assert len(targets) > 1  # random pairing, not always the same image
    cfg.train_dataloader.dataset.seed = 1
    _, _, other = build(cfg)
    assert [other[i]['target']['data_samples'].img_path for i in range(12)] \
        != [ds[i]['target']['data_samples'].img_path for i in range(12)]


def test_garbage_target_labels_do_not_change_a_training_step(demo_data,
                                                             tmp_path,
                                                             bundle):
    bad = tmp_path / 'bad'
    shutil.copytree(demo_data, bad)
    labels = list((bad / 'cityscapes' / 'gtFine' / 'train').rglob('*.png'))
    assert labels
    rng = np.random.default_rng(0)
    for p in labels:  # not even a PNG any more
        p.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    results = []
    for data in (demo_data, bad):
        cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', data, bundle,
                       both_methods())
        both_optims(cfg)
        model, optim, ds = build(cfg)
        results.append(train_steps(model, optim, [batch_of(ds, [0, 1]),
                                                  batch_of(ds, [2, 3])]))
    (logs_a, state_a), (logs_b, state_b) = results
    assert state_a.keys() == state_b.keys()
    for k in state_a:
        assert torch.equal(state_a[k], state_b[k]), k
    assert 'loss_st' in logs_a[-1] and 'loss_discriminator' in logs_a[-1]


def test_target_labels_never_reach_a_loss(demo_data):
    from mmengine.structures import PixelData
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data,
                   methods=both_methods())
    both_optims(cfg)
    states = []
    for fill in (0, 7):
        model, optim, ds = build(cfg)
        batch = batch_of(ds, [0, 1])
        for s in batch['target']['data_samples']:
            h, w = s.img_shape if 'img_shape' in s else (96, 160)
            s.gt_sem_seg = PixelData(data=torch.full((1, h, w), fill))
        states.append(train_steps(model, optim, [batch])[1])
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_rare_class_sampling_favours_rare_classes():
    from dakpn_aug.uda import RareClassSampler
    counts = np.zeros((100, 3), np.int64)
    counts[:, 0] = 5000  # everywhere
    counts[:50, 1] = 4000
    counts[99, 2] = 3000  # one image holds the rare class
    rcs = RareClassSampler(counts, temperature=0.1, min_pixels=3000)
    rng = np.random.default_rng(0)
    draws = [rcs.draw(rng) for _ in range(2000)]
    assert np.mean(np.array(draws) == 99) > 0.3  # uniform would be 0.01
    assert rcs.probs[2] > rcs.probs[1] > rcs.probs[0]
    with pytest.raises(dakpn_aug.DAKPNInputError, match='min_pixels'):
        RareClassSampler(counts, min_pixels=10**6)


def test_rare_class_sampling_in_the_dataset(demo_data, tmp_path):
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data)
    cache = tmp_path / 'rcs.json'
    cfg.train_dataloader.dataset.rare_class_sampling = dict(
        temperature=0.01, min_pixels=10, cache_file=str(cache))
    _, _, ds = build(cfg)
    assert cache.is_file() and ds.rcs is not None
    # Every source draw holds >= min_pixels of its class.
    sample = ds[0]['source']['data_samples']
    assert 'gt_sem_seg' in sample
    _, _, again = build(cfg)  # from the cache
    np.testing.assert_array_equal(again.rcs.probs, ds.rcs.probs)


# ------------------------------------------------------- one translation

def test_uda_translation_is_the_preprocessor_path(demo_data, bundle,
                                                  monkeypatch):
    from dakpn_aug.mmseg import DAKPNSegDataPreProcessor
    from dakpn_aug.translator import DAKPNTranslator
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data, bundle)
    model, _, ds = build(cfg)
    batch = batch_of(ds, [0, 1, 2])
    calls = []
    orig = DAKPNTranslator.translate_batch

    def counting(self, images, *a, **k):
        calls.append(images.shape[0])
        return orig(self, images, *a, **k)

    monkeypatch.setattr(DAKPNTranslator, 'translate_batch', counting)
    gen = model._generator(torch.device('cpu'), 0)
    via_uda = model._translate_source(batch['source'], gen)['inputs']
    assert calls == [3]  # one batched call for the whole batch
    pre = DAKPNSegDataPreProcessor(
        checkpoint=str(bundle), **{k: v for k, v in
                                   cfg.model.segmentor.data_preprocessor
                                   .items() if k != 'type'})
    pre.__dict__['_generator'] = model._generator(torch.device('cpu'), 0)
    via_pre = pre.translate_inputs(list(batch['source']['inputs']),
                                   batch['source']['data_samples'])
    for a, b, raw in zip(via_uda, via_pre, batch['source']['inputs']):
        assert torch.equal(a, b)
        assert not torch.equal(a.to(raw.dtype), raw)


def test_translation_leaves_source_labels_alone(demo_data, bundle):
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data, bundle)
    model, _, ds = build(cfg)
    batch = batch_of(ds, [0, 1])
    before = [s.gt_sem_seg.data.clone() for s in
              batch['source']['data_samples']]
    out = model._translate_source(batch['source'],
                                  model._generator(torch.device('cpu'), 0))
    for s, b in zip(out['data_samples'], before):
        assert torch.equal(s.gt_sem_seg.data, b)
    for a, raw in zip(out['inputs'], batch['source']['inputs']):
        assert a.shape == raw.shape and a.dtype == raw.dtype


def test_target_translation_changes_only_the_target_half(demo_data,
                                                        bundle):
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data)
    cfg.model.target_translation = dict(checkpoint=str(bundle))
    model, optim, ds = build(cfg)
    seen = {}
    orig = model.seg_preprocessor.forward

    def spy(data, training=False):
        out = orig(data, training)
        seen.setdefault('calls', []).append(out['inputs'].clone())
        return out

    model.seg_preprocessor.forward = spy
    batch = batch_of(ds, [0, 1])
    model.train_step(copy.deepcopy(batch), optim)
    src_in, tgt_in = seen['calls']
    plain = model.seg_preprocessor.__class__.forward
    ref_src = plain(model.seg_preprocessor, copy.deepcopy(batch['source']),
                    True)['inputs']
    ref_tgt = plain(model.seg_preprocessor, copy.deepcopy(batch['target']),
                    True)['inputs']
    assert torch.equal(src_in, ref_src)
    assert not torch.allclose(tgt_in, ref_tgt)


def test_only_source_labels_guide_the_translation(demo_data, bundle,
                                                 monkeypatch):
    """Label guidance reads the source half's labels; the target half is
    translated from its images alone (target labels never reach training),
    even when its samples carry labels."""
    from mmengine.structures import PixelData

    from dakpn_aug.translator import DAKPNTranslator
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data, bundle)
    cfg.model.target_translation = dict(checkpoint=str(bundle))
    model, optim, ds = build(cfg)
    batch = batch_of(ds, [0, 1])
    for s in batch['target']['data_samples']:  # as if labels had leaked
        s.gt_sem_seg = PixelData(data=torch.zeros(
            (1, ) + tuple(s.metainfo['img_shape']), dtype=torch.uint8))
    seen = []
    orig = DAKPNTranslator.translate_batch

    def spy(self, images, *a, labels=None, **k):
        seen.append(None if labels is None else labels.clone())
        return orig(self, images, *a, labels=labels, **k)

    monkeypatch.setattr(DAKPNTranslator, 'translate_batch', spy)
    model.train_step(copy.deepcopy(batch), optim)
    source_labels, target_labels = seen
    assert target_labels is None
    expected = torch.stack([s.gt_sem_seg.data[0] for s in
                            batch['source']['data_samples']])
    assert torch.equal(source_labels, expected.long())
    # Switched off in the translation config: no labels either.
    cfg.model.translation['label_guidance'] = False
    model, optim, _ = build(cfg)
    seen.clear()
    model.train_step(copy.deepcopy(batch), optim)
    assert seen == [None, None]


def test_segmentor_init_cfg_is_applied(demo_data, tmp_path):
    """A pretrained init_cfg of the wrapped segmentor (ImageNet backbone,
    or a previous round's weights) must load on init_weights."""
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data)
    model, _, _ = build(cfg, seed=1)
    ckpt = tmp_path / 'seg.pth'
    torch.save(dict(state_dict=model.model.state_dict()), ckpt)
    cfg.model.segmentor.init_cfg = dict(type='Pretrained',
                                        checkpoint=str(ckpt))
    other, _, _ = build(cfg, seed=2)
    for k, v in model.model.state_dict().items():
        assert torch.equal(v, other.model.state_dict()[k]), k


# ---------------------------------------------------------------- methods

def test_output_discriminator_is_adaptsegnets():
    from dakpn_aug.uda.methods import OutputDiscriminator
    d = OutputDiscriminator(19)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2)
               for c in convs)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d,
                                  torch.nn.InstanceNorm2d))
                   for m in d.modules())
    with pytest.raises(ValueError, match='at least'):
        d(torch.rand(1, 19, 16, 16))


def test_adversarial_step_updates_each_side_with_its_own_loss(demo_data):
    cfg = load_cfg('fcn_tiny_demo-adversarial.py', demo_data)
    cfg.model.methods[0].update(weight=1.0, aux_weight=1.0,
                                base_channels=8)  # multi-level
    cfg.optim_wrapper.discriminator_aux = cfg.optim_wrapper.discriminator
    model, optim, ds = build(cfg)
    batch = batch_of(ds, [0, 1])
    d0 = copy.deepcopy(model.discriminator.state_dict())
    logs, _ = train_steps(model, optim, [batch])
    assert {'loss_discriminator', 'loss_discriminator_aux',
            'loss_discriminator_d', 'discriminator_acc'} <= set(logs[0])
    assert any(not torch.equal(d0[k], v) for k, v in
               model.discriminator.state_dict().items())
    # The segmentor's adversarial loss must not train the discriminator:
    # its gradients stay off while the segmentor steps.
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_adversarial_needs_an_auxiliary_head_for_multi_level(demo_data):
    cfg = load_cfg('fcn_tiny_demo-adversarial.py', demo_data)
    cfg.model.methods[0].aux_weight = 0.0002
    cfg.model.segmentor.auxiliary_head = None
    with pytest.raises(ValueError, match='auxiliary_head'):
        build(cfg)


def test_ema_teacher_starts_as_a_copy_then_averages():
    from dakpn_aug.uda.methods import EMATeacher
    student = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1),
                                  torch.nn.BatchNorm2d(4))
    teacher = EMATeacher(student)
    with torch.no_grad():
        for p in teacher.model.parameters():
            p.add_(1.0)  # differs from the student until the first sync
    teacher.sync(student)
    for a, b in zip(teacher.model.state_dict().values(),
                    student.state_dict().values()):
        assert torch.equal(a, b)
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    with torch.no_grad():
        student[0].weight.add_(1.0)
    teacher.update(student, alpha=0.9)
    torch.testing.assert_close(teacher.model[0].weight,
                               before['0.weight'] + 0.1)
    teacher.train()
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())


def test_class_mix_takes_half_of_each_images_classes():
    from dakpn_aug.uda.methods.self_training import class_mix_masks
    labels = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, 255]],
                           [[5, 5, 5, 5], [5, 5, 5, 5]]])
    g = torch.Generator().manual_seed(0)
    masks = class_mix_masks(labels, g)
    chosen = torch.unique(labels[0][masks[0]])
    assert len(chosen) == 2  # half of {0, 1, 2, 3}
    # Whole classes: every pixel of a chosen class, nothing else.
    assert torch.equal(masks[0], torch.isin(labels[0], chosen))
    assert not masks[0][1, 3]  # ignore pixels never pasted
    assert masks[1].all()  # one class: rounded up


def test_pseudo_label_weights():
    from dakpn_aug.uda.methods import EMASelfTraining
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 0, 0] = 10.0  # top row confident class 0
    st = EMASelfTraining(threshold=0.9)
    labels, w = st.pseudo_labels(logits)
    assert labels[0, 0].tolist() == [0, 0]
    torch.testing.assert_close(w, torch.full((1, 2, 2), 0.5))
    labels, w = EMASelfTraining(threshold=0.9, weighting='pixel',
                                ignore_top=1).pseudo_labels(logits)
    assert w.sum() == 0  # the confident row is ignored, the rest < 0.9


def test_strong_augment_keeps_range_and_is_identity_when_off():
    from dakpn_aug.uda.methods.self_training import strong_augment
    img = torch.rand(2, 3, 16, 16) * 255
    g = torch.Generator().manual_seed(0)
    off = strong_augment(img, g, jitter_prob=0.0, blur_prob=0.0)
    torch.testing.assert_close(off, img, atol=1e-3, rtol=0)
    on = strong_augment(img, g, jitter_prob=1.0, blur_prob=1.0)
    assert on.shape == img.shape and 0 <= on.min() and on.max() <= 255
    assert not torch.allclose(on, img)


def test_schedule():
    from dakpn_aug.uda.methods import OutputAdversarial
    m = OutputAdversarial(weight=0.01, begin=10, end=20, warmup=5)
    assert m.weight_at(9) == 0 and m.weight_at(20) == 0
    assert m.weight_at(10) == pytest.approx(0.002)
    assert m.weight_at(15) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        OutputAdversarial(begin=5, end=5)


def test_two_methods_cannot_share_a_network_name(demo_data):
    cfg = load_cfg('fcn_tiny_demo-uda-source-only.py', demo_data, methods=[
        dict(type='OutputAdversarial'), dict(type='OutputAdversarial')])
    with pytest.raises(ValueError, match='net_name'):
        build(cfg)


@pytest.mark.parametrize('name', sorted(p.name for p in CFG.glob('*.py')))
def test_demo_configs_build(name, demo_data, bundle):
    cfg = load_cfg(name, demo_data)
    if cfg.model.get('translation'):
        cfg.model.translation.checkpoint = str(bundle)
    model, optim, _ = build(cfg)
    # One optimiser per trainable network; the EMA teacher has none.
    trainable = {n for n in model.net_names
                 if any(p.requires_grad for p in getattr(model, n)
                        .parameters())}
    assert set(optim.keys()) == {'segmentor', *trainable}


# ------------------------------------------------------------------ tools

def run_uda(data, work, iters, *extra, config='fcn_tiny_demo-uda-source-only.py',
            launcher=(), env=None, opts=()):
    cmd = [*launcher, 'tools/train_uda.py', str(CFG / config),
           '--work-dir', str(work), '--source-root', str(data / 'gta5'),
           '--target-root', str(data / 'cityscapes'), '--max-iters',
           str(iters), '--seed', '3', *extra, '--cfg-options', *TINY, *opts]
    if not launcher:
        cmd.insert(0, sys.executable)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=900, env=dict(os.environ, **(env or {})))
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    return res


METHOD_OPTS = ['model.methods.0.base_channels=8',
               'model.methods.0.weight=0.01']
def all_methods_config(tmp_path, switch: int) -> Path:
    """Every stage-2 method through the framework in one small run (CI
    time): global adversarial until ``switch``, then local adversarial,
    with self-training and both cycle-association levels throughout."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(CFG / 'fcn_tiny_demo-global-local.py'))
    cfg.model.methods = [
        dict(type='OutputAdversarial', weight=0.01, aux_weight=0.002,
             base_channels=8, end=switch),
        dict(type='LocalAdversarial', weight=0.01, hidden=8, begin=switch),
        dict(type='EMASelfTraining', alpha=0.99, threshold=0.1),
        dict(type='PixelCycleAssociation', level='features',
             max_pixels=256, entropy_weight=0.01),
        dict(type='PixelCycleAssociation', level='logits', max_pixels=256),
    ]
    # The multi-level variant's second discriminator (the demo config is
    # single-level).
    cfg.optim_wrapper.discriminator_aux = cfg.optim_wrapper.discriminator
    path = tmp_path / f'all_methods_switch{switch}.py'
    cfg.dump(str(path))
    return path


ALL_LOSSES = ('loss_discriminator', 'loss_local_discriminator', 'loss_st',
              'loss_plca_features', 'loss_plca_logits')


def test_resume_matches_uninterrupted_run_and_export_loads_in_mmseg(
        demo_data, bundle, tmp_path):
    """Every method (their networks, EMA teacher, schedule switch at the
    resumed iteration) and online DA-KPN: a run resumed from its
    iteration-2 checkpoint ends with the uninterrupted run's weights."""
    cfg = all_methods_config(tmp_path, switch=2)
    ck = ['default_hooks.checkpoint.interval=2',
          'default_hooks.checkpoint.max_keep_ckpts=3']
    run_uda(demo_data, tmp_path / 'full', 4, '--bundle', str(bundle),
            config=cfg, opts=ck)
    part = tmp_path / 'part'
    part.mkdir()
    shutil.copy(tmp_path / 'full' / 'iter_2.pth', part / 'iter_2.pth')
    (part / 'last_checkpoint').write_text(str(part / 'iter_2.pth'))
    run_uda(demo_data, part, 4, '--bundle', str(bundle), '--resume',
            config=cfg, opts=ck)
    logs = ' '.join(p.read_text() for p in part.rglob('*.log'))
    assert 'Advance dataloader' in logs
    full_logs = ' '.join(p.read_text() for p in
                         (tmp_path / 'full').rglob('*.log'))
    for key in ALL_LOSSES:
        assert key in full_logs, key
    a = torch.load(tmp_path / 'full' / 'segmentor.pth', weights_only=True)
    b = torch.load(part / 'segmentor.pth', weights_only=True)
    for k in a['state_dict']:
        torch.testing.assert_close(a['state_dict'][k], b['state_dict'][k],
                                   atol=1e-6, rtol=1e-5)
    assert b['meta']['iterations'] == 4
    assert 0.0 <= b['meta']['mIoU'] <= 100.0  # the run's last validation
    # A plain mmseg model, loaded and run by mmseg's own API.
    from mmseg.apis import inference_model, init_model
    model = init_model(str(part / 'segmentor_config.py'),
                       str(part / 'segmentor.pth'), device='cpu')
    assert type(model).__name__ == 'EncoderDecoder'
    assert model.dataset_meta['classes'][0] == 'road'
    img = next((demo_data / 'cityscapes' / 'leftImg8bit' / 'val')
               .rglob('*.png'))
    pred = inference_model(model, str(img)).pred_sem_seg.data
    assert pred.shape[-2:] == (96, 160)


def test_ddp_on_cpu_with_torchrun(demo_data, bundle, tmp_path):
    """Every method and online DA-KPN under DDP (2 CPU processes, gloo):
    2 iterations, one global and one local adversarial."""
    torchrun = Path(sys.executable).with_name('torchrun')
    run_uda(demo_data, tmp_path / 'ddp', 2, '--launcher', 'pytorch',
            '--bundle', str(bundle),
            config=all_methods_config(tmp_path, switch=1),
            launcher=(str(torchrun), '--standalone', '--nproc_per_node=2'),
            env={'OMP_NUM_THREADS': '1'})
    log = next((tmp_path / 'ddp').rglob('*.log')).read_text()
    for key in ALL_LOSSES:
        assert key in log, key
    assert 'Distributed training: True' in log
    assert 'UDA training on 2 process(es), CPU' in log
    assert (tmp_path / 'ddp' / 'segmentor.pth').is_file()


def test_train_uda_clear_errors(demo_data, tmp_path, tool_error):
    from dakpn_aug.cli.train_uda import main
    config = CFG / 'fcn_tiny_demo-adversarial.py'
    assert 'source dataset folder does not exist' in tool_error(
        main, [config, '--source-root', tmp_path / 'nope'])
    assert 'bundle not found' in tool_error(main, [
        config, '--source-root', demo_data / 'gta5', '--target-root',
        demo_data / 'cityscapes', '--bundle', tmp_path / 'none.pth'])
    base = [sys.executable, 'tools/train_uda.py']  # as users run it
    res = subprocess.run(base + [str(ROOT / 'mmseg_configs' / 'demo' /
                                     'dakpn_demo.py')],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'not a UDA config' in res.stderr
    assert 'Traceback' not in res.stderr


PAPER = ROOT / 'mmseg_configs' / 'uda'
SMALL = {  # real networks, tiny images (CPU time)
    'deeplabv3_r101-d8_gta2cityscapes-1280x720_adversarial.py': [
        'train_dataloader.dataset.source.pipeline.2.scale=(160,96)',
        'train_dataloader.dataset.target.pipeline.1.scale=(128,64)'],
    'deeplabv3_r101-d8_gta2cityscapes-1280x720_cycle-association.py': [
        'train_dataloader.dataset.source.pipeline.2.scale=(160,96)',
        'train_dataloader.dataset.target.pipeline.1.scale=(128,64)'],
    'deeplabv3_r101-d8_gta2cityscapes-1280x720_global-local.py': [
        'train_dataloader.dataset.source.pipeline.2.scale=(160,96)',
        'train_dataloader.dataset.target.pipeline.1.scale=(128,64)',
        'model.methods.1.begin=0'],  # one iteration: both steps active
    'deeplabv3_r101-d8_gta2cityscapes-1280x720_symmetric-b.py': [
        'train_dataloader.dataset.source.pipeline.2.scale=(160,96)',
        'train_dataloader.dataset.target.pipeline.1.scale=(128,64)'],
    'segformer_mit-b5_gta2cityscapes-512x512_self-training.py': [
        'train_dataloader.dataset.source.pipeline.2.scale=(160,96)',
        'train_dataloader.dataset.source.pipeline.3.crop_size=(64,64)',
        'train_dataloader.dataset.target.pipeline.1.scale=(128,64)',
        'train_dataloader.dataset.target.pipeline.2.crop_size=(64,64)',
        'train_dataloader.dataset.rare_class_sampling.min_pixels=10',
        'model.segmentor.data_preprocessor.size=(64,64)'],
}


@pytest.mark.parametrize('config', sorted(SMALL))
def test_paper_scale_configs_run_one_iteration(config, demo_data, tmp_path,
                                               bundle):
    """The paper-scale configs build their real networks and train one
    iteration on tiny files in the real GTA5 / Cityscapes layouts (the
    tool's main in this process: no interpreter start-up; no training
    checkpoint, whose writing the demo configs' resume test covers)."""
    from dakpn_aug.cli.train_uda import main
    work = tmp_path / 'run'
    opts = [*SMALL[config], 'val_dataloader.dataset.pipeline.1.scale=(128,64)',
            f'train_dataloader.dataset.rare_class_sampling.cache_file='
            f'{tmp_path / "rcs.json"}' if 'segformer' in config else
            'train_dataloader.batch_size=2',
            'default_hooks.checkpoint.save_last=False',
            'default_hooks.checkpoint.interval=-1']
    argv = [str(PAPER / config), '--work-dir', str(work), '--source-root',
            str(demo_data / 'gta5'), '--target-root',
            str(demo_data / 'cityscapes'), '--max-iters', '1',
            '--cfg-options', *TINY, *opts]
    if 'symmetric' in config:
        argv[1:1] = ['--target-bundle', str(bundle)]
    assert main(argv) == 0
    assert (work / 'segmentor.pth').is_file()
    assert not list(work.glob('iter_*.pth'))
    log = next(work.rglob('*.log')).read_text()
    key = ('loss_st' if 'self-training' in config else
           'loss_plca_features' if 'cycle' in config else
           'loss_local_discriminator' if 'global-local' in config else
           'loss_discriminator')
    assert key in log
