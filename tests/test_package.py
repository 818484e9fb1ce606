"""Install-level behaviour: light import, registration, mmcv.ops stand-in."""
import subprocess
import sys
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
