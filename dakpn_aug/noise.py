"""The noise term of Eq. 1, in one place: the law of the field N, the
policy that decides where a field comes from, seeded generators, and the
cache of fixed fields.

Vocabulary (the same at every front door):

- ``'fixed'`` (paper): one field per image size, drawn from the policy's
  seed; every image of that size gets the same field;
- ``'fresh'``: a new field per call, from a seeded generator (same seed,
  same sequence) or from the generator passed to the call;
- ``'none'``: no noise term;
- ``None`` (an argument's default): keep what the bundle (or the model's
  config) says. ``None`` never means "no noise".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

NOISE_MODES = ('fixed', 'fresh', 'none')
NOISE_DISTRIBUTIONS = ('gaussian', 'clamped')


def seeded_generator(seed: int, device=None) -> torch.Generator:
    """A torch generator seeded with ``seed`` (on ``device``, CPU by
    default): how every seeded noise draw of the package starts."""
    gen = torch.Generator() if device is None else torch.Generator(device)
    gen.manual_seed(int(seed))
    return gen


def make_noise(shape: Sequence[int],
               seed: Optional[int] = None,
               generator: Optional[torch.Generator] = None,
               device=None,
               dtype=torch.float32,
               distribution: str = 'gaussian') -> Tensor:
    """The noise field N: standard normal samples (``'gaussian'``, zero
    mean) or, as the paper writes it, standard normal samples clamped to
    [0, 1] (``'clamped'``, mean 0.32: it brightens).

    Drawn on the CPU from ``seed`` (or a CPU ``generator``) and then moved,
    so the same seed gives the same field on every device; a ``generator``
    on another device (``torch.Generator('cuda')``) draws on that device,
    with no host-to-device copy (a different sequence than the CPU's).

    A (B, C, H, W) field comes in channels-last memory, the layout
    ``translate`` works in: element-wise passes that mix a planar field
    with channels-last images run over 3 channels at a time (measured on
    the CPU: 2-3% of a whole translation at 720x1280 and 4K, the same
    values either way).

    Example:
        >>> torch.equal(make_noise((1, 3, 4, 4), seed=0),
        ...             make_noise((1, 3, 4, 4), seed=0))
        True
    """
    if distribution not in NOISE_DISTRIBUTIONS:
        raise ValueError(f'noise distribution must be one of '
                         f'{NOISE_DISTRIBUTIONS}, got {distribution!r}')
    if generator is None:
        generator = seeded_generator(0 if seed is None else seed)
    n = torch.randn(tuple(shape), generator=generator, dtype=torch.float32,
                    device=generator.device)
    if distribution == 'clamped':
        n.clamp_(0.0, 1.0)
    n = n.to(device=device, dtype=dtype)
    return n.contiguous(memory_format=torch.channels_last) \
        if n.dim() == 4 else n


@dataclass
class NoisePolicy:
    """Where the noise field N of Eq. 1 comes from.

    - ``'fixed'`` (paper): one field per image size, generated from ``seed``;
      every image of that size gets the same field.
    - ``'fresh'``: a new field per call, drawn from a generator seeded with
      ``seed`` (same seed, same sequence of outputs) or from the generator
      passed to the call.
    - ``'none'``: no noise term.

    ``distribution`` is the law of N (``functional.make_noise``):
    ``'gaussian'`` (zero mean, the default) or the paper's ``'clamped'``.
    """
    mode: str = 'fixed'
    seed: int = 0
    distribution: str = 'gaussian'

    def __post_init__(self):
        if self.mode not in NOISE_MODES:
            raise ValueError(f'noise mode must be one of {NOISE_MODES}, got '
                             f'{self.mode!r}')
        if self.distribution not in NOISE_DISTRIBUTIONS:
            raise ValueError('noise distribution must be one of '
                             f'{NOISE_DISTRIBUTIONS}, got '
                             f'{self.distribution!r}')
        self.seed = int(self.seed)

    def make(self, shape, seed=None, generator=None, device=None):
        """A field of this policy's distribution (see ``make_noise``)."""
        return make_noise(shape, seed=seed, generator=generator,
                          device=device, distribution=self.distribution)

    @classmethod
    def coerce(cls, value) -> 'NoisePolicy':
        if isinstance(value, NoisePolicy):
            return value
        if isinstance(value, str):
            return cls(mode=value)
        if isinstance(value, dict):
            return cls(**value)
        if value is None:
            # None means "keep the default / the bundle's" at every front
            # door; no noise is said 'none'.
            raise TypeError("noise=None is not a policy: 'none' switches "
                            'the noise off')
        raise TypeError(f'cannot make a NoisePolicy from {value!r}')


class FixedNoiseCache:
    """The ``'fixed'`` fields of a policy by (height, width, device), each
    (1, 3, h, w), drawn once; bounded (a new size beyond ``max_sizes``
    clears it).

    Example:
        >>> cache = FixedNoiseCache(NoisePolicy('fixed', seed=3))
        >>> a = cache.get(4, 5, 'cpu')
        >>> a.shape, a is cache.get(4, 5, 'cpu')
        (torch.Size([1, 3, 4, 5]), True)
    """

    def __init__(self, policy: NoisePolicy, max_sizes: int = 16):
        self.policy = policy
        self.max_sizes = max_sizes
        self._fields: Dict[Tuple, Tensor] = {}

    def get(self, h: int, w: int, device) -> Optional[Tensor]:
        if self.policy.mode == 'none':
            return None
        key = (int(h), int(w), str(device))
        if key not in self._fields:
            if len(self._fields) >= self.max_sizes:
                self._fields.clear()
            self._fields[key] = self.policy.make(
                (1, 3, key[0], key[1]), seed=self.policy.seed, device=device)
        return self._fields[key]
