"""Training pictures: source | translation | real | parameter maps."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from .. import functional as DF
from ..visualize import (caption, grid, param_pictures, to_uint8_rgb,
                         write_png)


class DAKPNVisualizationHook(Hook):
    """Every ``interval`` iterations (and after the last), write
    ``WORK_DIR/vis/iter_XXXXXX.png``: for ``num_samples`` fixed source images
    of the training set, the source, its translation at full resolution, a
    real image and the parameter maps of paper figure 6 (value weight and
    bias, blue sigma) plus the red noise scale.

    Args:
        interval: iterations between pictures.
        num_samples: rows per picture.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 500, num_samples: int = 2):
        self.interval = int(interval)
        self.num_samples = int(num_samples)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        it = runner.iter + 1
        if it % self.interval == 0 or it == runner.max_iters:
            self.draw(runner, it)

    @torch.no_grad()
    def draw(self, runner, it: int) -> Optional[Path]:
        if not is_main_process():
            return None
        model = getattr(runner.model, 'module', runner.model)
        dataset = runner.train_dataloader.dataset
        from ..data.unpaired import _resize, _to_tensor
        rows = []
        device = next(model.kpn.parameters()).device
        for i in range(min(self.num_samples, len(dataset.source_files))):
            src = dataset._load_source(i)
            real = dataset._load_target(i % len(dataset.target_files))
            x = _to_tensor(src)[None].to(device)
            low = _to_tensor(_resize(src, dataset.low_res))[None].to(device)
            params = model.predict_params(model.encode(low))
            noise = model.fixed_noise(*x.shape[-2:], device)
            out = DF.translate(x, params, noise=noise,
                               color_space=model.color_space)
            h, w = src.shape[:2]
            # The parameter maps carry their own captions (name, range).
            rows.append([caption(src, 'source'),
                         caption(to_uint8_rgb(out), 'translation'),
                         caption(real, 'real')] +
                        param_pictures(params, model.color_space,
                                       size=(h, w)))
        path = Path(runner.work_dir) / 'vis' / f'iter_{it:06d}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, grid(rows))
        runner.logger.info(f'wrote {path}')
        return path


class LastValMetricsHook(Hook):
    """Remembers the last validation's scalar metrics and iteration (the
    training tools write them into the exported model's meta)."""
    priority = 'LOWEST'

    def __init__(self):
        self.metrics: Optional[dict] = None
        self.iteration: Optional[int] = None

    def after_val_epoch(self, runner, metrics=None):
        self.iteration = runner.iter
        self.metrics = {}
        for k, v in dict(metrics or {}).items():
            try:  # numpy scalars included; per-class tables are skipped
                self.metrics[str(k)] = round(float(v), 4)
            except (TypeError, ValueError):
                pass
