#!/usr/bin/env bash
# The GPU numbers of README "Speed" and "Cost inside downstream training" in
# one prepared run, for a lent GPU machine that has PyTorch, OpenCV, numpy and
# pytest but none of mmseg's stack and no network (Python 3.12 on the
# machines lent so far).
#
#   bash tools/gpu_check.sh wheels [PYTHON_VERSION]
#       here, with the package registry: the pinned mmseg stack
#       (requirements/base.txt) as wheels for that Python (default 3.12) in
#       .whl/ (git-ignored; ~14 MB), the folder to carry to the GPU machine.
#   bash tools/gpu_check.sh run OUT [--device cuda|cpu] [--quick]
#       there, from the repository root: installs .whl/ and this checkout
#       into the machine's own Python environment (a machine that is given
#       back afterwards), then writes into OUT: gpu.txt (the card), tests.txt
#       (pytest -k cuda), speed.md / speed.json (tools/benchmark_speed.py
#       --device cuda), overhead.txt (tools/benchmark_overhead.py on the
#       FCN-R50-D8 preset) and log.txt. --device cpu --quick rehearses the
#       same steps without a GPU.
#
# The README's GPU rows come from speed.md and overhead.txt, with the card
# named (gpu.txt). Each step's failure is reported and the next one still
# runs, and the long steps have time limits (a lease is 15 minutes), so one
# broken or stuck step does not cost the whole lease; the speed step prints
# each row as it is timed, so log.txt keeps those of a step cut short.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=$ROOT/.whl
PYTHON=${PYTHON:-python3}

# requirements/base.txt split in two (tests/test_gpu_check.py keeps it so):
# what the GPU image has (its own versions, logged by the run) and what is
# carried as wheels at the pinned versions, with what those need in turn
# (EXTRA). mmcv-lite, pure Python, is built as a wheel by itself.
ON_THE_IMAGE=(torch numpy opencv-python opencv-python-headless psutil scipy
              matplotlib pillow tqdm PyYAML rich packaging regex)
PACKAGES=(mmengine mmsegmentation ftfy albumentations albucore
          pydantic pydantic_core addict prettytable termcolor yapf
          setuptools)
EXTRA=(stringzilla==5.3.2 simsimd==6.5.16 typing-inspection==0.4.5
       annotated-types==0.8.0 wcwidth==0.9.4 platformdirs==4.14.9)

pinned() {  # NAME -> NAME==VERSION as requirements/base.txt pins it
    local line
    line=$(grep -i -E "^$1==" "$ROOT/requirements/base.txt") ||
        { echo "gpu_check: $1 is not pinned in requirements/base.txt" >&2;
          return 1; }
    echo "$line"
}

wheels() {
    local version=${1:-3.12} specs=() name
    for name in "${PACKAGES[@]}"; do specs+=("$(pinned "$name")") || exit 1; done
    specs+=("${EXTRA[@]}")
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$WHEELS" \
        "${specs[@]}" || exit 1
    "$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELS" \
        "$(pinned mmcv-lite)" || exit 1
    ls -1 "$WHEELS"
    du -sh "$WHEELS"
    echo "carry .whl: run(command='bash tools/gpu_check.sh run \$OUT'," \
         "carry=['.whl'])"
}

run() {
    local out=${1:?usage: gpu_check.sh run OUT [--device cuda|cpu] [--quick]}
    shift
    local device=cuda quick=() model=fcn_r50-d8 small=() failed=0
    while (($#)); do
        case $1 in
            --device) device=$2; shift 2 ;;
            --quick) quick=(--quick); model=fcn_tiny
                     small=(--size 64x96 --repeats 1); shift ;;
            *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
        esac
    done
    mkdir -p "$out"
    exec > >(tee -a "$out/log.txt") 2>&1
    cd "$ROOT" || exit 1
    step() {  # NAME COMMAND...: run, time, and report without stopping
        local name=$1 start=$SECONDS
        shift
        echo "== $name"
        "$@"
        local rc=$?
        echo "== $name: exit $rc after $((SECONDS - start)) s"
        ((rc == 0)) || failed=$((failed + 1))
    }
    [[ -d $WHEELS ]] || { echo "gpu_check: no .whl/ here: run" \
        "'bash tools/gpu_check.sh wheels' first and carry .whl" >&2; exit 1; }
    export PYTHONUNBUFFERED=1
    # The wheels first: the package's build then uses their setuptools.
    step wheels "$PYTHON" -m pip install --quiet --no-index --no-deps \
        "$WHEELS"/*.whl
    step package "$PYTHON" -m pip install --quiet --no-index --no-deps \
        --no-build-isolation -e .
    step startup-hook "$PYTHON" -c 'from dakpn_aug.compat.mmcv_ops import \
install_startup_hook as h; print("mmcv-lite startup hook:", h())'
    step versions "$PYTHON" -c "
from importlib.metadata import version, PackageNotFoundError
for name in '${ON_THE_IMAGE[*]}'.split():
    try:
        print(name, version(name))
    except PackageNotFoundError:
        print(name, 'not installed')"
    step machine "$PYTHON" -c "
import platform, torch
text = f'{platform.processor() or platform.machine()}, torch {torch.__version__}'
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    text += (f', {p.name}, {p.total_memory / 2**30:.0f} GiB, '
             f'CUDA {torch.version.cuda}')
print(text)
open('$out/gpu.txt', 'w').write(text + '\n')"
    step tests timeout 180 bash -c "'$PYTHON' -m pytest -q -p no:cacheprovider \
        -k cuda tests 2>&1 | tail -40 > '$out/tests.txt';
        cat '$out/tests.txt'; exit \${PIPESTATUS[0]}"
    step speed timeout 300 "$PYTHON" tools/benchmark_speed.py --device "$device" \
        --out "$out" "${quick[@]}"
    # Untrained weights: the time does not depend on them.
    step bundle "$PYTHON" -c "from dakpn_aug import DAKPNTranslator
DAKPNTranslator.build('$model').save('/tmp/gpu_check_bundle.pth')"
    step overhead timeout 180 bash -c "'$PYTHON' tools/benchmark_overhead.py \
        /tmp/gpu_check_bundle.pth --device '$device' --model '$model' \
        ${small[*]} > '$out/overhead.txt' 2>&1; rc=\$?;
        cat '$out/overhead.txt'; exit \$rc"
    echo "gpu_check: $failed step(s) failed; results in $out"
    return $((failed > 0))
}

case ${1:-} in
    wheels) shift; wheels "$@" ;;
    run) shift; run "$@" ;;
    *) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
