"""tools/gpu_check.sh, the prepared run for a lent GPU machine: between
what it carries and what it expects on the GPU image it covers every
pinned runtime requirement, and without its wheels it says what to do."""
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tools' / 'gpu_check.sh'


def normal(name: str) -> str:
    return name.lower().replace('_', '-')


def bash_array(name: str):
    found = re.search(rf'^{name}=\(([^)]*)\)', SCRIPT.read_text(), re.M)
    assert found, name
    return [normal(word) for word in found[1].split()]


def test_every_runtime_pin_is_carried_or_on_the_gpu_image():
    pins = {normal(re.split(r'[=<>!~]', line)[0])
            for line in (ROOT / 'requirements' / 'base.txt').read_text()
            .splitlines() if line.strip() and not line.startswith('#')}
    carried = set(bash_array('PACKAGES')) | {'mmcv-lite'}
    assert pins - carried - set(bash_array('ON_THE_IMAGE')) == set()
    assert carried <= pins  # carried at the pinned versions


def test_run_without_wheels_says_what_to_do(tmp_path):
    (tmp_path / 'tools').mkdir()
    shutil.copy(SCRIPT, tmp_path / 'tools')
    res = subprocess.run(['bash', str(tmp_path / 'tools' / 'gpu_check.sh'),
                          'run', str(tmp_path / 'out')],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "run 'bash tools/gpu_check.sh wheels' first and carry .whl" in \
        res.stdout + res.stderr
