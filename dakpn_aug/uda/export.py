"""Export the adapted segmentor of a UDA run as a plain mmseg model: a
checkpoint and a config that mmseg's own ``init_model`` /
``inference_model`` load, with no dakpn-aug code needed to run it."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional, Tuple, Union

import torch
from mmengine.config import Config

from ..fileio import write_atomic
from ..models.utils import unwrap


def _test_pipeline(cfg) -> list:
    pipe = cfg.get('test_pipeline')
    if pipe is None:
        pipe = cfg.val_dataloader.dataset.get('pipeline')
    if pipe is None:
        raise ValueError('export_segmentor: the config has no test_pipeline '
                         'and its val dataset no pipeline')
    return copy.deepcopy(list(pipe))


def segmentor_config(cfg) -> Config:
    """A plain mmseg config of the segmentor inside ``cfg.model``."""
    model = copy.deepcopy(cfg.model.segmentor)
    return Config(dict(model=model, test_pipeline=_test_pipeline(cfg),
                       default_scope='mmseg'))


def export_segmentor(model, cfg, out_dir: Union[str, Path],
                     dataset_meta: Optional[dict] = None,
                     extra_meta: Optional[dict] = None
                     ) -> Tuple[Path, Path]:
    """Write ``out_dir/segmentor.pth`` (``state_dict`` + ``meta``) and
    ``out_dir/segmentor_config.py``; returns both paths.

    ``model`` is the ``UDASegmentor`` (bare or DDP-wrapped), ``cfg`` the
    run's config, ``dataset_meta`` the class names and palette mmseg's
    visualiser uses (default: the source dataset's).
    """
    uda = unwrap(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / 'segmentor_config.py'
    segmentor_config(cfg).dump(str(config_path))
    state = {k: v.detach().cpu() for k, v in uda.model.state_dict().items()}
    meta = dict(dataset_meta=dict(dataset_meta or {}),
                exported_from='dakpn_aug UDASegmentor')
    meta.update(extra_meta or {})
    ckpt_path = out_dir / 'segmentor.pth'
    write_atomic(ckpt_path, lambda tmp: torch.save(
        dict(meta=meta, state_dict=state), tmp))
    return ckpt_path, config_path
