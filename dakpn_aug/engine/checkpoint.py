"""Loading mmengine checkpoints under torch >= 2.6 without trusting strangers.

mmengine 0.10.7 checkpoints hold non-tensor objects (the message hub's
``HistoryBuffer``), so with torch >= 2.6 (``weights_only=True`` by default)
``resume`` and ``load_from`` fail (open-mmlab/mmengine#1655). Allow-listing
the needed globals would include ``builtins.getattr``, which defeats the
point. Instead :func:`trust_checkpoints_under` replaces mmengine's local
loader: files inside the run's own work dir (which this run wrote) load
fully; every other file loads with ``weights_only=True`` (plain mmseg
checkpoints do).
"""
from __future__ import annotations

import os.path as osp
from pathlib import Path
from typing import List

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_TRUSTED: List[Path] = []


def _is_trusted(filename: str) -> bool:
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in _TRUSTED)


def _load_local(filename, map_location):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location,
                      weights_only=not _is_trusted(filename))


def trust_checkpoints_under(work_dir) -> None:
    """Let mmengine fully load checkpoints inside ``work_dir`` (and only
    there); everything else stays ``weights_only=True``."""
    root = Path(work_dir).resolve()
    if root not in _TRUSTED:
        _TRUSTED.append(root)
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local,
                                     force=True)
