"""dakpn-aug: DA-KPN synthetic-to-real translation that never moves a label.

``import dakpn_aug`` is light: it imports torch and numpy, not mmseg or
albumentations. The integrations register themselves when their module is
imported:

- ``dakpn_aug.mmseg`` registers the transform, models and datasets in
  mmseg's registries. It is imported automatically when ``dakpn_aug`` is
  imported after mmengine/mmseg (as ``custom_imports=dict(imports=
  ['dakpn_aug'])`` in an mmseg config does).
- ``dakpn_aug.albumentations`` provides the ``DAKPN`` transform.
"""
import os as _os
import sys as _sys

# albumentations (imported by mmseg too) asks PyPI for its latest version
# on import unless this is set: the project reads no network at run time.
# A user's own setting wins.
_os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

from .compat import mmcv_ops as _mmcv_ops  # noqa: E402
from .version import __version__  # noqa: E402

# Must precede any import of mmseg on an mmcv-lite install (see the module).
_mmcv_ops.install()

from .errors import DAKPNCheckpointError, DAKPNInputError  # noqa: E402
from .functional import (identity_params, local_gaussian_blur,  # noqa: E402
                         make_noise, rgb_to_hsv, hsv_to_rgb, translate,
                         upsample_params)
from .noise import NoisePolicy  # noqa: E402
from .translator import DAKPNTranslator  # noqa: E402

__all__ = [
    '__version__', 'DAKPNCheckpointError', 'DAKPNInputError',
    'DAKPNTranslator', 'NoisePolicy', 'identity_params',
    'local_gaussian_blur', 'make_noise', 'rgb_to_hsv', 'hsv_to_rgb',
    'translate', 'upsample_params'
]

if 'mmengine' in _sys.modules or 'mmseg' in _sys.modules:
    # Config-driven use (custom_imports): register into mmseg's registries
    # and the dakpn_aug:: config scope.
    from . import configs as _configs  # noqa: E402,F401
    from . import mmseg as _mmseg  # noqa: E402,F401
