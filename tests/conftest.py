import os

import pytest
import torch

# Tests must not depend on the machine's core count for determinism.
# Under pytest-xdist (`make test` runs two workers side by side) each
# worker, and every process its tests start, gets its share of the cores.
_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
_THREADS = max(1, min(2, os.cpu_count() or 1) // _WORKERS)
if _WORKERS > 1:
    os.environ['OMP_NUM_THREADS'] = str(_THREADS)
torch.set_num_threads(_THREADS)


def _devices():
    devs = ['cpu']
    devs.append(
        pytest.param('cuda', marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason='CUDA not available')))
    return devs


@pytest.fixture(params=_devices())
def device(request):
    """Runs a test on the CPU and, when present, on CUDA (kornia style)."""
    return torch.device(request.param)


@pytest.fixture(scope='session')
def tiny_translator():
    """An identity-initialised translator with the light demo encoder."""
    from dakpn_aug import DAKPNTranslator
    torch.manual_seed(0)
    return DAKPNTranslator.build('fcn_tiny')


def scene_image(h: int, w: int, seed: int = 0, dtype=torch.float32):
    """A natural-looking test image: smooth shading, hard-edged objects and
    mild texture (like a rendered street scene), RGB in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w),
                            indexing='ij')
    img = torch.stack([0.3 + 0.4 * xx, 0.2 + 0.5 * yy, 0.6 - 0.3 * xx * yy])
    for _ in range(12):
        y0 = int(torch.randint(0, max(1, h - 4), (1, ), generator=g))
        x0 = int(torch.randint(0, max(1, w - 4), (1, ), generator=g))
        hh = int(torch.randint(2, max(3, h // 3), (1, ), generator=g))
        ww = int(torch.randint(2, max(3, w // 3), (1, ), generator=g))
        img[:, y0:y0 + hh, x0:x0 + ww] = torch.rand(3, 1, 1, generator=g)
    img = img + 0.02 * torch.randn(3, h, w, generator=g)
    return img.clamp(0, 1).unsqueeze(0).to(dtype)


@pytest.fixture
def scene():
    return scene_image


@pytest.fixture
def tool_error(capsys):
    """``tool_error(main, argv)``: a tool's ``main`` run in this process
    (no interpreter start-up: seconds per call on 2 cores), expected to
    stop with one clear error; returns its text (the ``SystemExit``
    message, or what argparse printed). Any other exception fails the test,
    as the traceback a user would see."""
    def call(main, argv) -> str:
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in argv])
        code = stop.value.code
        assert code not in (0, None), 'the tool succeeded'
        return code if isinstance(code, str) else capsys.readouterr().err
    return call
