"""A stand-in for ``mmcv.ops`` when mmcv's compiled extension is absent.

Why: mmsegmentation 1.2.2 imports ``mmcv.ops`` at import time (for example
``mmseg.utils`` needs ``point_sample`` and the focal loss imports
``sigmoid_focal_loss``), but ``mmcv-lite`` (the pure-Python mmcv that installs
in seconds) has no ``mmcv._ext``, so ``import mmseg.models`` fails with
``No module named 'mmcv._ext'``. dakpn-aug needs none of the compiled ops.

What: :func:`install` puts a finder on ``sys.meta_path`` that answers only
the import of ``mmcv.ops``, and only when ``mmcv._ext`` cannot be found. Full
mmcv (with the extension) is never touched. The stand-in provides

- ``point_sample``: mmcv's own pure-PyTorch implementation, loaded from
  ``mmcv/ops/point_sample.py`` (which needs nothing compiled);
- ``sigmoid_focal_loss`` and ``SyncBatchNorm`` names that raise
  :class:`CompiledOpUnavailableError` when used (mmseg imports the first
  unguarded; mmengine's SyncBN converter looks the second up);
- for any other name, ``ModuleNotFoundError``: exactly what mmseg's own
  ``try: from mmcv.ops import X / except ModuleNotFoundError`` fallbacks
  expect, so models that need e.g. CrissCrossAttention say so at build time.

Install full mmcv (``make install-full-mmcv``) to use compiled ops.

When: ``import dakpn_aug`` installs the finder, and so does the startup hook
``dakpn_aug-mmcv-ops.pth`` (the file :data:`STARTUP_HOOK` beside this module;
a wheel puts it in site-packages, ``make install`` writes it next to the
editable install) at interpreter start, so that ``import mmseg.apis`` works
on mmcv-lite before dakpn_aug is imported, or without it. The hook loads
this file by its path into ``sys.modules`` under its own name (stdlib only:
the ``dakpn_aug`` package and torch are not imported at start-up; a later
``import dakpn_aug`` finds this module there, so there is one finder and one
error class) and does nothing when dakpn_aug is gone.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types

__all__ = ['CompiledOpUnavailableError', 'install', 'is_standin_active',
           'has_compiled_ops', 'STARTUP_HOOK', 'STARTUP_HOOK_NAME',
           'install_startup_hook']

#: The startup hook's source, and its name in site-packages.
STARTUP_HOOK = os.path.join(os.path.dirname(__file__), 'mmcv_ops_startup.pth')
STARTUP_HOOK_NAME = 'dakpn_aug-mmcv-ops.pth'

_HINT = ('mmcv was installed without its compiled extension (mmcv-lite); '
         'dakpn-aug put a stand-in for mmcv.ops in place, which provides only '
         'point_sample. Install full mmcv (`make install-full-mmcv`, ~25 min '
         'build) to use compiled ops.')


class CompiledOpUnavailableError(RuntimeError):
    """A compiled mmcv op was used but only mmcv-lite is installed."""


def has_compiled_ops() -> bool:
    """True if ``mmcv._ext`` (full mmcv) is importable."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def is_standin_active() -> bool:
    mod = sys.modules.get('mmcv.ops')
    return bool(getattr(mod, '__dakpn_standin__', False))


def _unavailable(name: str):

    def op(*args, **kwargs):
        raise CompiledOpUnavailableError(f'mmcv.ops.{name} is a compiled op. '
                                         + _HINT)

    op.__name__ = name
    op.__qualname__ = name
    return op


class _UnavailableModule:
    """Placeholder class: instantiating it raises the clear error."""

    _name = 'op'

    def __init__(self, *args, **kwargs):
        raise CompiledOpUnavailableError(
            f'mmcv.ops.{self._name} is a compiled op. ' + _HINT)


def _build_standin(mmcv_dir: str) -> types.ModuleType:
    mod = types.ModuleType('mmcv.ops', doc=__doc__)
    mod.__dakpn_standin__ = True
    mod.__file__ = __file__
    path = os.path.join(mmcv_dir, 'ops', 'point_sample.py')
    spec = importlib.util.spec_from_file_location('mmcv.ops.point_sample',
                                                  path)
    ps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ps)  # pure PyTorch: imports only torch
    mod.point_sample = ps.point_sample
    mod.bilinear_grid_sample = ps.bilinear_grid_sample
    mod.sigmoid_focal_loss = _unavailable('sigmoid_focal_loss')
    mod.SyncBatchNorm = type('SyncBatchNorm', (_UnavailableModule, ),
                             {'_name': 'SyncBatchNorm'})

    def __getattr__(name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(f'mmcv.ops.{name} is unavailable: ' + _HINT,
                                  name='mmcv.ops')

    mod.__getattr__ = __getattr__
    return mod


# Duck-typed loader and finder: importlib.abc would cost the start-up hook
# ~16 ms (it imports importlib.resources, pathlib, tempfile).
class _Loader:

    def __init__(self, mmcv_dir: str):
        self.mmcv_dir = mmcv_dir

    def create_module(self, spec):
        return _build_standin(self.mmcv_dir)

    def exec_module(self, module):
        pass


class _MmcvOpsFinder:
    """Answers ``import mmcv.ops`` only when the extension is missing."""

    # Marks the finder for install(), whichever copy of this module made it
    # (a test may reload the module).
    dakpn_mmcv_ops_finder = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'mmcv.ops':
            return None
        mmcv = sys.modules.get('mmcv')
        if mmcv is None or has_compiled_ops():
            return None  # full mmcv: the real mmcv.ops
        mmcv_dir = os.path.dirname(mmcv.__file__)
        return importlib.machinery.ModuleSpec(fullname, _Loader(mmcv_dir))


def install() -> None:
    """Register the finder (idempotent). Cheap: imports nothing."""
    if not any(getattr(f, 'dakpn_mmcv_ops_finder', False)
               for f in sys.meta_path):
        sys.meta_path.insert(0, _MmcvOpsFinder())


def install_startup_hook(site_dir: str | None = None) -> str:
    """Copy the startup hook into ``site_dir`` (default: this interpreter's
    purelib site-packages) and return its path. For editable installs
    (``make install``); a wheel carries the hook itself (setup.py)."""
    import shutil
    import sysconfig
    site_dir = site_dir or sysconfig.get_paths()['purelib']
    dst = os.path.join(site_dir, STARTUP_HOOK_NAME)
    shutil.copyfile(STARTUP_HOOK, dst)
    return dst
