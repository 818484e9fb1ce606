"""The contract between the UDA segmentor and its adaptation methods.

A method is a small object built from config (``UDA_METHODS``) that adds
losses to the segmentor's step and may own networks (discriminators, an
EMA teacher). The wrapper (:class:`~dakpn_aug.uda.UDASegmentor`) does the
rest: data, online DA-KPN, the source loss, optimisers, DDP, checkpoints.

Networks a method declares in :meth:`UDAMethod.build_nets` become direct
children of the wrapper under the name given (so ``optim_wrapper`` configs
address them by that name, checkpoints hold them, and DDP wraps each one
separately); at run time the method reaches them through
``batch.nets[name]``, never through a reference of its own (that would skip
the DDP wrapper). A method keeps all its state in those networks' buffers,
so resuming a run restores it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

import torch
from mmengine.registry import Registry
from torch import Tensor, nn

UDA_METHODS = Registry('uda method')


@dataclass
class UDABatch:
    """One training step's data, shared by the wrapper and the methods.

    ``source_inputs``/``target_inputs`` are normalised (B, 3, H, W) batches
    (the source already translated by DA-KPN when the config asks for it);
    ``target_samples`` carry no labels. ``source_outputs`` are the
    segmentor's head outputs on the source batch (with gradients);
    :meth:`target_outputs` computes the target's on first use.
    """
    source_inputs: Tensor
    source_samples: list
    target_inputs: Tensor
    target_samples: list
    source_outputs: Dict[str, object]
    iteration: int
    nets: Mapping[str, nn.Module]
    segmentor: nn.Module  # the training forward (DDP-wrapped under DDP)
    model: nn.Module  # the bare mmseg segmentor (heads, losses, config)
    generator: torch.Generator
    mean: Tensor
    std: Tensor
    _forward: Callable = None
    _cache: dict = field(default_factory=dict)

    def target_outputs(self) -> Dict[str, object]:
        """The segmentor's head outputs on the target batch (with
        gradients), computed once per step."""
        if 'target' not in self._cache:
            self._cache['target'] = self._forward(self.target_inputs)
        return self._cache['target']

    def forward(self, inputs: Tensor) -> Dict[str, object]:
        """The segmentor's head outputs on any batch (with gradients)."""
        return self._forward(inputs)

    def source_labels(self) -> Tensor:
        """(B, H, W) long source labels at input size (255 = ignore)."""
        return torch.stack([s.gt_sem_seg.data[0] for s in
                            self.source_samples]).long()

    def denormalise(self, x: Tensor) -> Tensor:
        """Normalised inputs -> 0..255 pixel values."""
        return x * self.std + self.mean

    def normalise(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class UDAMethod:
    """Base of the stage-2 adaptation methods.

    Args:
        weight: the loss weight of the method.
        begin: first iteration the method is active.
        end: first iteration it is not (None: to the end).
        warmup: iterations over which the weight ramps linearly from 0
            after ``begin``.
    """

    #: Prefix of the method's log keys and losses.
    name = 'method'

    def __init__(self, weight: float = 1.0, begin: int = 0,
                 end: Optional[int] = None, warmup: int = 0):
        if weight < 0:
            raise ValueError(f'{type(self).__name__}: weight must be >= 0')
        if begin < 0 or (end is not None and end <= begin):
            raise ValueError(f'{type(self).__name__}: need 0 <= begin < '
                             f'end, got begin={begin}, end={end}')
        self.weight = float(weight)
        self.begin = int(begin)
        self.end = None if end is None else int(end)
        self.warmup = int(warmup)

    # -------------------------------------------------------- schedule

    def active(self, iteration: int) -> bool:
        return self.begin <= iteration and (self.end is None or
                                            iteration < self.end)

    def weight_at(self, iteration: int) -> float:
        """The loss weight at ``iteration`` (0 when inactive)."""
        if not self.active(iteration):
            return 0.0
        if self.warmup > 0:
            return self.weight * min(1.0,
                                     (iteration - self.begin + 1) /
                                     self.warmup)
        return self.weight

    # ------------------------------------------------------- contract

    def build_nets(self, model: nn.Module,
                   num_classes: int) -> Dict[str, nn.Module]:
        """Networks this method owns, by the wrapper attribute name they
        get (``model`` is the bare mmseg segmentor)."""
        return {}

    def segmentor_losses(self, batch: UDABatch) -> Dict[str, Tensor]:
        """Losses added to the segmentor's step (already weighted)."""
        return {}

    def after_segmentor_step(self, batch: UDABatch,
                             optim_wrapper) -> Dict[str, Tensor]:
        """Update the method's own networks after the segmentor's step
        (a discriminator step, an EMA update); returns values to log."""
        return {}

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(weight={self.weight}, '
                f'begin={self.begin}, end={self.end})')


def build_methods(cfgs: Optional[List[dict]]) -> List[UDAMethod]:
    return [m if isinstance(m, UDAMethod) else UDA_METHODS.build(m)
            for m in (cfgs or [])]
