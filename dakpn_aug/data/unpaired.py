"""The unpaired training set of DA-KPN (paper section 3.3).

Per sample: the source image at the encoder's low resolution (96x160), a
random full-resolution source patch of (H/8, W/8) plus the blur margin on
every side, its box in full-resolution coordinates (the model crops the
matching window of the upsampled parameter map), a random real patch of
the same size with its box (``real_box``, in the real image's
``real_full_size``) and the same real image at low resolution. Source and target
may differ in sizes and counts.

Sampling is a pure function of ``(seed, index)``, and the dataset is
"virtually" long (``length``), so an ``InfiniteSampler`` never repeats a
draw and a resumed run replays exactly the same samples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DAKPNInputError
from ..functional import BLUR_MARGIN
from .layouts import list_images
from .readers import read_rgb


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(
        2, 0, 1).float().div_(255.0)


def _resize(img: np.ndarray, size: Optional[Sequence[int]]) -> np.ndarray:
    if size is None or tuple(img.shape[:2]) == tuple(size):
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(img, (int(size[1]), int(size[0])), interpolation=interp)


class UnpairedTranslationDataset(Dataset):
    """Unpaired source/target samples for DA-KPN training.

    Args:
        source_root: synthetic images (GTA5 layout, Cityscapes layout or a
            plain folder; ``source_layout``).
        target_root: real images (``target_layout``, ``target_split`` for
            the Cityscapes layout).
        low_res: (h, w) the encoder sees (96x160 in the paper).
        patch_scale: patches are (H / patch_scale, W / patch_scale) (8).
        source_size: resize source images to (H, W) first (the paper uses
            720x1280); None keeps native sizes (then all must be equal).
        target_size: resize real images to (H, W) first; None keeps them.
        length: virtual dataset length (number of distinct draws).
        seed: sampling seed.
    """

    def __init__(self,
                 source_root: Union[str, Path],
                 target_root: Union[str, Path],
                 source_layout: str = 'auto',
                 target_layout: str = 'auto',
                 source_split: Optional[str] = 'train',
                 target_split: Optional[str] = 'train',
                 low_res: Sequence[int] = (96, 160),
                 patch_scale: int = 8,
                 source_size: Optional[Sequence[int]] = None,
                 target_size: Optional[Sequence[int]] = None,
                 length: int = 1_000_000,
                 seed: int = 0,
                 max_source: Optional[int] = None):
        self.source_files = list_images(source_root, source_layout,
                                        source_split)[:max_source]
        self.target_files = list_images(target_root, target_layout,
                                        target_split)
        self.low_res = (int(low_res[0]), int(low_res[1]))
        self.patch_scale = int(patch_scale)
        self.source_size = tuple(source_size) if source_size else None
        self.target_size = tuple(target_size) if target_size else None
        self.length = int(length)
        self.seed = int(seed)
        self.margin = BLUR_MARGIN
        first = self._load_source(0)
        self.full_size: Tuple[int, int] = first.shape[:2]
        self.patch_size = (self.full_size[0] // self.patch_scale,
                           self.full_size[1] // self.patch_scale)
        if min(self.patch_size) < 1:
            raise DAKPNInputError(
                f'source images of {self.full_size} are too small for '
                f'patch_scale={self.patch_scale}')

    def __len__(self) -> int:
        return self.length

    def _load_source(self, i: int) -> np.ndarray:
        img = _resize(read_rgb(self.source_files[i]), self.source_size)
        return img

    def _load_target(self, i: int) -> np.ndarray:
        return _resize(read_rgb(self.target_files[i]), self.target_size)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        s = int(rng.integers(len(self.source_files)))
        r = int(rng.integers(len(self.target_files)))
        src = self._load_source(s)
        if src.shape[:2] != self.full_size:
            raise DAKPNInputError(
                f'source image {self.source_files[s]} is '
                f'{src.shape[1]}x{src.shape[0]}, others are '
                f'{self.full_size[1]}x{self.full_size[0]}: set source_size '
                'to train on mixed sizes')
        h, w = self.full_size
        ph, pw = self.patch_size
        m = self.margin
        top = int(rng.integers(0, h - ph + 1))
        left = int(rng.integers(0, w - pw + 1))
        # The margin may reach past the border: replicate, exactly like the
        # whole-image translation's replicate padding.
        padded = cv2.copyMakeBorder(src, m, m, m, m, cv2.BORDER_REPLICATE)
        src_patch = padded[top:top + ph + 2 * m, left:left + pw + 2 * m]

        real = self._load_target(r)
        rh, rw = real.shape[:2]
        if rh < ph or rw < pw:
            raise DAKPNInputError(
                f'real image {self.target_files[r]} ({rw}x{rh}) is smaller '
                f'than the {pw}x{ph} patches; set target_size')
        rt = int(rng.integers(0, rh - ph + 1))
        rl = int(rng.integers(0, rw - pw + 1))
        real_patch = real[rt:rt + ph, rl:rl + pw]
        return dict(
            index=s,
            source_low=_to_tensor(_resize(src, self.low_res)),
            source_patch=_to_tensor(src_patch),
            box=torch.tensor([top - m, left - m, ph + 2 * m, pw + 2 * m]),
            full_size=torch.tensor([h, w]),
            real_patch=_to_tensor(real_patch),
            real_box=torch.tensor([rt, rl, ph, pw]),
            real_full_size=torch.tensor([rh, rw]),
            real_low=_to_tensor(_resize(real, self.low_res)),
        )
