"""mmseg integration: registers dakpn-aug's parts in mmseg's registries.

Importing this module imports mmseg (installing the mmcv.ops stand-in first
on mmcv-lite installs) and registers:

- ``MODELS``: ``KernelPredictionNet``, ``PatchDiscriminator``,
  ``SemanticEncoder``, ``DAKPN``, ``DAKPNSegDataPreProcessor``,
  ``UDASegmentor`` (its methods live in ``dakpn_aug.uda.UDA_METHODS``);
- ``DATASETS``: ``UnpairedTranslationDataset``, ``GTA5Dataset``,
  ``CityscapesLabelIdsDataset``, ``ImageFolderSegDataset``,
  ``FaceSyntheticsDataset``, ``CelebAMaskHQDataset``, ``UDADataset``;
- ``OPTIM_WRAPPER_CONSTRUCTORS``: ``MultiOptimWrapperConstructor``;
- ``HOOKS``: ``DAKPNVisualizationHook``;
- ``TRANSFORMS``: ``DAKPNTranslate``.
"""
import importlib.util as _util

from .. import _mmcv_ops  # noqa: F401  (installed by dakpn_aug/__init__)

if _util.find_spec('mmcv') is None:
    # mmcv is the user's choice (as in mmseg's own metadata): say which.
    raise ImportError(
        'dakpn-aug needs mmcv 2.0-2.1, which is not installed: either '
        "`pip install 'dakpn-aug[lite]'` (the pure-Python mmcv-lite; "
        'dakpn-aug stands in for the compiled ops it uses) or a full mmcv '
        'build matching your torch (`pip install "mmcv>=2.0.0rc4,<2.2.0"`)')

from mmseg.registry import (DATASETS, HOOKS, MODELS,  # noqa: E402
                            OPTIM_WRAPPER_CONSTRUCTORS, TRANSFORMS)

from ..configs import register_scope  # noqa: E402
from ..data.seg_datasets import (CelebAMaskHQDataset,  # noqa: E402
                                 CityscapesLabelIdsDataset,
                                 FaceSyntheticsDataset, GTA5Dataset,
                                 ImageFolderSegDataset)
from ..data.unpaired import UnpairedTranslationDataset  # noqa: E402
from ..engine import (DAKPNVisualizationHook,  # noqa: E402
                      MultiOptimWrapperConstructor)
from ..models import (KernelPredictionNet, PatchDiscriminator,  # noqa: E402
                      SemanticEncoder)
from ..models.dakpn import DAKPN  # noqa: E402
from .data_preprocessor import DAKPNSegDataPreProcessor  # noqa: E402
from .transforms import (DAKPNTranslate, PeerTranslate,  # noqa: E402
                         RandomBlurNoise, RandomColorCast)
from ..uda import UDADataset, UDASegmentor  # noqa: E402
from ..uda.symmetric import FusionSegmentor  # noqa: E402


def _register(registry, classes) -> None:
    for cls in classes:
        if registry.get(cls.__name__) is not cls:
            registry.register_module(module=cls, force=True)


register_scope()
_register(MODELS, (KernelPredictionNet, PatchDiscriminator, SemanticEncoder,
                   DAKPN, DAKPNSegDataPreProcessor, UDASegmentor,
                   FusionSegmentor))
_register(DATASETS, (UnpairedTranslationDataset, GTA5Dataset,
                     CityscapesLabelIdsDataset, ImageFolderSegDataset,
                     FaceSyntheticsDataset, CelebAMaskHQDataset, UDADataset))
_register(OPTIM_WRAPPER_CONSTRUCTORS, (MultiOptimWrapperConstructor, ))
_register(HOOKS, (DAKPNVisualizationHook, ))
_register(TRANSFORMS, (DAKPNTranslate, RandomBlurNoise, RandomColorCast,
                        PeerTranslate))

__all__ = ['DAKPN', 'DAKPNSegDataPreProcessor', 'DAKPNTranslate', 'DAKPNVisualizationHook', 'KernelPredictionNet',
           'MultiOptimWrapperConstructor', 'PatchDiscriminator',
           'SemanticEncoder', 'UnpairedTranslationDataset', 'GTA5Dataset',
           'CityscapesLabelIdsDataset', 'ImageFolderSegDataset',
           'FaceSyntheticsDataset', 'CelebAMaskHQDataset', 'UDADataset',
           'UDASegmentor']
