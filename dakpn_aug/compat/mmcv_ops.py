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
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

__all__ = ['CompiledOpUnavailableError', 'install', 'is_standin_active',
           'has_compiled_ops']

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


class _Loader(importlib.abc.Loader):

    def __init__(self, mmcv_dir: str):
        self.mmcv_dir = mmcv_dir

    def create_module(self, spec):
        return _build_standin(self.mmcv_dir)

    def exec_module(self, module):
        pass


class _MmcvOpsFinder(importlib.abc.MetaPathFinder):
    """Answers ``import mmcv.ops`` only when the extension is missing."""

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
    if not any(isinstance(f, _MmcvOpsFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MmcvOpsFinder())
