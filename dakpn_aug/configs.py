"""The shipped mmseg configs, wherever the package is installed.

The repository's ``mmseg_configs/`` folder is the one copy;
``dakpn_aug/.mim/configs`` links to it in a clone (and in an editable
install) and a wheel carries the files there, as OpenMMLab packages carry
theirs (``mmseg/.mim/configs``). Importing this module also teaches
mmengine the ``dakpn_aug::`` config scope, so a user's config can start
from a shipped one wherever dakpn-aug is installed::

    _base_ = ['dakpn_aug::uda/demo/fcn_tiny_demo-self-training.py']

(``mmseg::`` works the same way; mmengine resolves a scope while it reads
the file, so ``dakpn_aug`` must be imported first: every dakpn-aug tool
does, and ``import dakpn_aug`` after mmengine does it too.)
"""
from __future__ import annotations

import sys
from pathlib import Path

#: The config scope (``dakpn_aug::path/in/mmseg_configs.py``).
SCOPE = 'dakpn_aug'


def configs_dir() -> Path:
    """The folder of the shipped configs (``mmseg_configs/`` in a clone)."""
    return Path(__file__).resolve().parent / '.mim' / 'configs'


def config_path(name: str | Path) -> Path:
    """A shipped config by its path inside ``mmseg_configs/`` (with or
    without the ``dakpn_aug::`` prefix); an existing file path is returned
    as it is.

    Example:
        >>> config_path('demo/dakpn_demo.py').name
        'dakpn_demo.py'
    """
    name = str(name)
    if Path(name).is_file():
        return Path(name)
    path = configs_dir() / name.removeprefix(SCOPE + '::')
    if not path.is_file():
        raise FileNotFoundError(
            f'config file not found: {name} (neither a file nor one of the '
            f'shipped configs in {configs_dir()})')
    return path


def register_scope() -> None:
    """Make ``dakpn_aug::`` a config scope mmengine resolves (idempotent)."""
    from mmengine.config.utils import MODULE2PACKAGE
    # mmengine looks for ``<package dir>/.mim/configs``. Given the
    # distribution's name it derives the folder from the distribution's
    # location, which an editable install puts in site-packages, not in the
    # clone; given a module that is no distribution it asks the import
    # system, which knows the real folder (clone or wheel) every time.
    MODULE2PACKAGE.setdefault(SCOPE, __name__)


if 'mmengine' in sys.modules:  # keep `import dakpn_aug` light otherwise
    register_scope()
