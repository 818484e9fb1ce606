"""Everything else is declared in setup.cfg; this file adds what setup.cfg
cannot express: the mmcv-lite start-up hook (``dakpn_aug/compat/mmcv_ops.py``
says why) at the wheel's site-packages root, and a package-index
description whose pictures do not point at files the index does not have."""
import importlib.util
import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py


def _mmcv_ops():
    # The one place that names the hook; stdlib only, so it loads without
    # torch (an isolated build has none) and without the package.
    path = os.path.join('dakpn_aug', 'compat', 'mmcv_ops.py')
    spec = importlib.util.spec_from_file_location('_mmcv_ops_setup', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildPyWithStartupHook(build_py):

    def _hook_target(self):
        return os.path.join(self.build_lib, _mmcv_ops().STARTUP_HOOK_NAME)

    def run(self):
        super().run()
        self.copy_file(_mmcv_ops().STARTUP_HOOK, self._hook_target(),
                       preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [self._hook_target()]


def index_description(readme: str = 'README.md') -> str:
    """The README for a package index page: a picture or a link given by a
    relative path (``![alt](docs/x.png)``, ``[text](docs/x.md)``) cannot
    resolve there, so a picture becomes a line naming it and where it is,
    a link its text and the path (the sdist carries ``docs/``)."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r'!\[([^\]]*)\]\((?![a-z]+://)([^)\s]+)\)',
                  r'*(Picture: \1; `\2` in the source distribution.)*', text)

    def link(m):
        label, path = m.groups()
        where = f'`{path}` in the source distribution'
        return where if label == path else f'{label} ({where})'

    return re.sub(r'\[([^\]]*)\]\((?![a-z]+://|#)([^)\s]+)\)', link, text)


setup(long_description=index_description(),
      long_description_content_type='text/markdown',
      cmdclass={'build_py': BuildPyWithStartupHook})
