"""mmseg integration: registers dakpn-aug's parts in mmseg's registries.

Importing this module imports mmseg (installing the mmcv.ops stand-in first
on mmcv-lite installs) and registers:

- ``MODELS``: ``KernelPredictionNet``, ``PatchDiscriminator``,
  ``SemanticEncoder``.
"""
from .. import _mmcv_ops  # noqa: F401  (installed by dakpn_aug/__init__)
from ..models import KernelPredictionNet, PatchDiscriminator, SemanticEncoder

from mmseg.registry import MODELS  # noqa: E402

for _cls in (KernelPredictionNet, PatchDiscriminator, SemanticEncoder):
    if MODELS.get(_cls.__name__) is not _cls:
        MODELS.register_module(module=_cls, force=True)

__all__ = ['KernelPredictionNet', 'PatchDiscriminator', 'SemanticEncoder']
