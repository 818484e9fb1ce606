"""Install-level behaviour: light import, registration, mmcv.ops stand-in."""
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch


def run_py(code: str) -> str:
    res = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_import_is_light():
    out = run_py('''
        import sys, dakpn_aug
        print(sorted(m for m in ('mmseg', 'mmengine', 'albumentations',
                                 'mmcv') if m in sys.modules))
    ''')
    assert out.strip() == '[]'


@pytest.mark.parametrize('import_dakpn_first', [True, False])
def test_no_network_call_on_importing_albumentations(monkeypatch,
                                                     import_dakpn_first):
    """albumentations asks PyPI for its latest version when imported
    (mmseg imports it too); after ``import dakpn_aug`` it does not. The
    control (albumentations alone) shows the probe sees the request."""
    monkeypatch.delenv('NO_ALBUMENTATIONS_UPDATE', raising=False)
    out = run_py(f"""
        import urllib.request
        asked = []
        def refuse(self, url, *args, **kwargs):
            asked.append(getattr(url, 'full_url', url))
            raise OSError('no network in the tests')
        urllib.request.OpenerDirector.open = refuse
        if {import_dakpn_first}:
            import dakpn_aug
        import albumentations
        print(len(asked))
    """)
    assert out.split()[-1] == ('0' if import_dakpn_first else '1')


def test_custom_imports_in_an_mmseg_config_registers_everything(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['dakpn_aug'], "
                   "allow_failed_imports=False)\n")
    out = run_py(f'''
        from mmengine.config import Config
        Config.fromfile({str(cfg)!r})
        from mmseg.registry import MODELS
        print(MODELS.get('KernelPredictionNet').__name__,
              MODELS.get('SemanticEncoder').__name__,
              MODELS.get('PatchDiscriminator').__name__)
    ''')
    assert out.split() == ['KernelPredictionNet', 'SemanticEncoder',
                           'PatchDiscriminator']


def test_mmcv_ops_standin_or_full_mmcv():
    import dakpn_aug  # noqa: F401  (installs the finder)
    import mmseg.models  # noqa: F401  (would fail on mmcv-lite without it)
    from dakpn_aug.compat import mmcv_ops
    import mmcv.ops
    if mmcv_ops.has_compiled_ops():
        assert not mmcv_ops.is_standin_active()
        pytest.skip('full mmcv installed: the stand-in stays out of the way')
    assert mmcv_ops.is_standin_active()
    # point_sample is mmcv's pure-PyTorch op and works.
    feats = torch.arange(16.).view(1, 1, 4, 4)
    pts = torch.tensor([[[0.125, 0.125], [0.875, 0.875]]])
    out = mmcv.ops.point_sample(feats, pts, align_corners=False)
    torch.testing.assert_close(out, torch.tensor([[[0., 15.]]]))
    # Compiled ops: a clear error when used, ModuleNotFoundError on import
    # (what mmseg's own fallbacks catch).
    with pytest.raises(mmcv_ops.CompiledOpUnavailableError,
                       match='make install-full-mmcv'):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(ModuleNotFoundError, match='mmcv-lite'):
        from mmcv.ops import CrissCrossAttention  # noqa: F401
    from mmseg.models.decode_heads import cc_head
    assert cc_head.CrissCrossAttention is None  # mmseg's fallback kicked in


def test_standin_is_inactive_when_extension_exists(monkeypatch):
    from dakpn_aug.compat import mmcv_ops
    monkeypatch.setattr(mmcv_ops, 'has_compiled_ops', lambda: True)
    finder = mmcv_ops._MmcvOpsFinder()
    assert finder.find_spec('mmcv.ops') is None
    monkeypatch.setattr(mmcv_ops, 'has_compiled_ops', lambda: False)
    import mmcv  # noqa: F401
    assert finder.find_spec('mmcv.ops') is not None
    assert finder.find_spec('mmcv.cnn') is None


def test_mmseg_imports_before_dakpn_aug():
    """The import order does not matter: the start-up hook puts the
    stand-in in place before anything imports dakpn_aug (on mmcv-lite;
    with full mmcv the real ops load)."""
    out = run_py('''
        import sys
        import mmseg.apis  # noqa: F401  (fails on mmcv-lite without hook)
        hook = sys.modules.get('dakpn_aug.compat.mmcv_ops')
        print('dakpn_aug' in sys.modules, hook is not None,
              hook is not None and (hook.has_compiled_ops() or
                                    hook.is_standin_active()))
    ''')
    assert out.split() == ['False', 'True', 'True']


ROOT = __import__('pathlib').Path(__file__).resolve().parents[1]


def test_cli_lists_every_tool_and_old_names_still_work():
    from dakpn_aug.cli import ALIASES, COMMANDS
    out = subprocess.run([sys.executable, '-m', 'dakpn_aug', '--help'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    listed = [line.split()[0] for line in out.stdout.splitlines()
              if line.startswith('  ')]
    assert listed == list(COMMANDS)
    # Every tools/*.py is a thin wrapper of one subcommand's module.
    wrappers = {p.stem for p in (ROOT / 'tools').glob('*.py')}
    modules = {module for module, _ in COMMANDS.values()}
    assert wrappers - {'train_encoder'} == modules
    for path in (ROOT / 'tools').glob('*.py'):
        assert 'sys.path' not in path.read_text(), path
    assert ALIASES == {'train-encoder': 'train-segmentor'}
    res = subprocess.run([sys.executable, '-m', 'dakpn_aug', 'translat'],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unknown subcommand 'translat'" in \
        res.stderr
    res = subprocess.run([sys.executable, 'tools/train_encoder.py', '--help'],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert res.returncode == 0 and '--work-dir' in res.stdout
    assert 'deprecated' in res.stderr


def test_config_scope_resolves_the_shipped_configs(tmp_path):
    (tmp_path / 'mine.py').write_text(
        "_base_ = ['dakpn_aug::uda/demo/fcn_tiny_demo-self-training.py']\n"
        "model = dict(methods=[dict(type='EMASelfTraining', alpha=0.9)])\n")
    out = run_py(f'''
        import mmengine, dakpn_aug
        from dakpn_aug.engine.launch import load_config
        cfg = load_config({str(tmp_path / 'mine.py')!r})
        print(cfg.model.type, cfg.model.methods[0].alpha)
        print(load_config('demo/dakpn_demo.py').model.type)
    ''')
    assert out.split() == ['UDASegmentor', '0.9', 'DAKPN']


@pytest.mark.slow
def test_wheel_works_from_an_empty_directory(tmp_path):
    """The wheel alone (installed without the source tree, reusing this
    environment's dependencies) imports from itself, lists every
    subcommand and runs ``dakpn-aug demo --fast`` with its packaged configs
    into a bundle that translates."""
    wheels, target, work = (tmp_path / n for n in ('wheels', 'site', 'run'))
    work.mkdir()
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    for cmd in ([*pip, 'wheel', '--no-build-isolation', '--no-deps', '-q',
                 '-w', str(wheels), str(ROOT)],
                [*pip, 'install', '--no-deps', '-q', '--target', str(target)]):
        if 'install' in cmd:
            cmd += [str(w) for w in wheels.glob('*.whl')]
        res = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
    # The package-index description: no picture by a relative path (an
    # index page cannot show it), every picture still named.
    metadata = next(target.glob('dakpn_aug-*.dist-info')) / 'METADATA'
    description = metadata.read_text()
    assert '](docs/' not in description
    assert description.count('Picture: ') == \
        (ROOT / 'README.md').read_text().count('](docs/') - \
        (ROOT / 'README.md').read_text().count('.md](docs/')
    assert '[docs/speed.md](' not in description  # a link, not a picture
    assert (target / 'dakpn_aug' / '.mim' / 'configs' / 'demo' /
            'dakpn_demo.py').is_file()
    assert not (target / 'dakpn_aug' / '.mim' / 'configs').is_symlink()
    # The wheel's start-up hook (site-packages root) makes `import mmseg`
    # work on mmcv-lite before dakpn_aug: run with only the wheel's folder
    # processed as a site directory (the clone's editable install and its
    # hook are not; the dependencies are reachable as plain paths).
    hook_check = subprocess.run(
        [sys.executable, '-S', '-c', textwrap.dedent(f'''
            import site, sys
            site.addsitedir({str(target)!r})
            sys.path.append({sysconfig.get_paths()['purelib']!r})
            import mmseg.apis
            print('dakpn_aug' in sys.modules,
                  sys.modules['dakpn_aug.compat.mmcv_ops'].__file__)
        ''')], capture_output=True, text=True, cwd=work, timeout=300)
    assert hook_check.returncode == 0, hook_check.stderr[-3000:]
    imported, hook_file = hook_check.stdout.split()
    assert imported == 'False' and hook_file.startswith(str(target))
    env = dict(__import__('os').environ, PYTHONPATH=str(target))
    cli = [str(target / 'bin' / 'dakpn-aug')]

    def run(*args):
        res = subprocess.run([*cli, *args], capture_output=True, text=True,
                             cwd=work, env=env, timeout=900)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        return res.stdout

    assert 'train-uda' in run('--help')
    out = run('demo', '--fast', '--out', 'demo')
    assert 'Done in' in out
    check = subprocess.run(
        [sys.executable, '-c', textwrap.dedent('''
            import dakpn_aug, numpy as np
            from dakpn_aug import DAKPNTranslator
            t = DAKPNTranslator.from_checkpoint('demo/dakpn/dakpn_bundle.pth')
            img = (np.random.default_rng(0).random((64, 96, 3)) * 255
                   ).astype(np.uint8)
            out = t(img)
            print(dakpn_aug.__file__)
            print(out.shape, out.dtype)
        ''')], capture_output=True, text=True, cwd=work, env=env,
        timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    where, shape = check.stdout.splitlines()
    assert where.startswith(str(target))  # the wheel, not the clone
    assert shape == '(64, 96, 3) uint8'
