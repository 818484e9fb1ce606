"""One optimizer per sub-module (KPN and discriminator), as GANs need."""
from __future__ import annotations

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn


class MultiOptimWrapperConstructor:
    """Build an :class:`OptimWrapperDict` with one wrapper per sub-module.

    mmengine's default constructor rejects several optimizers. Config::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            kpn=dict(optimizer=dict(type='Adam', lr=1e-4)),
            discriminator=dict(optimizer=dict(type='Adam', lr=1e-4)))

    Each key names an attribute of the model; its value is a normal
    ``optim_wrapper`` config for that sub-module.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError('optim_wrapper must be a dict of per-module '
                            f'configs, got {type(optim_wrapper_cfg)}')
        if paramwise_cfg is not None:
            raise ValueError('set paramwise_cfg inside each sub-module '
                             'config')
        self.cfgs = {k: dict(v) for k, v in optim_wrapper_cfg.items()}
        for name, cfg in self.cfgs.items():
            if 'optimizer' not in cfg:
                raise ValueError(f'optim_wrapper.{name} needs an optimizer')

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = getattr(model, 'module', model)
        wrappers = {}
        for name, cfg in self.cfgs.items():
            if not hasattr(model, name):
                raise AttributeError(f'optim_wrapper names {name!r}, which '
                                     f'{type(model).__name__} does not have')
            cfg = dict(cfg)
            cfg.setdefault('type', 'OptimWrapper')
            paramwise = cfg.pop('paramwise_cfg', None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(
                getattr(model, name))
        return OptimWrapperDict(**wrappers)
