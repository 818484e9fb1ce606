"""Per-process translator loading shared by the front doors.

Data pipelines run in dataloader worker processes; each loads the bundle
once (lazily, on first use) and keeps it. CUDA cannot be used in workers
forked from a process that has initialised CUDA, so asking for a CUDA
translator inside a forked worker raises a clear error instead of a hang.
"""
from __future__ import annotations

import os
import threading
from typing import Dict, Tuple

import torch

from .translator import DAKPNTranslator

_CACHE: Dict[Tuple[int, str, str, str, str], DAKPNTranslator] = {}
_LOCK = threading.Lock()


def _in_forked_worker() -> bool:
    info = torch.utils.data.get_worker_info()
    if info is None:
        return False
    import multiprocessing as mp
    return mp.get_start_method(allow_none=True) in (None, 'fork')


def get_translator(checkpoint, device: str = 'cpu', noise=None,
                   encoder_dtype=None) -> DAKPNTranslator:
    """The translator of ``checkpoint`` on ``device`` for this process
    (``noise``, ``encoder_dtype``: see ``DAKPNTranslator``)."""
    device = str(device)
    if device.startswith('cuda'):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={device!r} but CUDA is not available")
        if _in_forked_worker():
            raise RuntimeError(
                'DA-KPN on CUDA inside a forked dataloader worker does not '
                "work; use device='cpu' in worker pipelines, translate on the "
                'GPU with DAKPNSegDataPreProcessor, or set the multiprocessing '
                "start method to 'spawn'")
    key = (os.getpid(), str(checkpoint), device, repr(noise),
           str(encoder_dtype))
    with _LOCK:
        tr = _CACHE.get(key)
        if tr is None:
            kwargs = dict(encoder_dtype=encoder_dtype)
            if noise is not None:
                kwargs['noise'] = noise
            # Building the modules before loading draws initial weights:
            # keep that off the caller's global generator (a training step
            # that loads the bundle must draw what any other step draws).
            with torch.random.fork_rng(devices=[]):
                tr = DAKPNTranslator.from_checkpoint(checkpoint,
                                                     device=device, **kwargs)
            _CACHE[key] = tr
        return tr
