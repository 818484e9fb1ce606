"""Small helpers the GAN-style models share (DA-KPN, the UDA methods)."""
from __future__ import annotations

from torch import nn


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a (separate) DDP wrapper."""
    return getattr(module, 'module', module)
