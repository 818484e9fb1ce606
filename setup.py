"""Everything is declared in setup.cfg; this file only adds the mmcv-lite
startup hook (``dakpn_aug/compat/mmcv_ops.py`` says why) to the wheel's
site-packages root, which setup.cfg cannot express."""
import importlib.util
import os

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


setup(cmdclass={'build_py': BuildPyWithStartupHook})
