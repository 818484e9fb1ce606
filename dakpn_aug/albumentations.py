"""``DAKPN``: DA-KPN as an albumentations 2.x transform.

    import albumentations as A
    from dakpn_aug.albumentations import DAKPN

    aug = A.Compose([DAKPN('dakpn_bundle.pth', p=1.0), A.HorizontalFlip()],
                    seed=0)
    out = aug(image=image, mask=mask)   # mask untouched by DAKPN

A ``mask`` (``masks`` with ``images``) holding the encoder's class indices
(train ids; 255: ignore) is read for label guidance (``DAKPNTranslator``:
classes the encoder cannot see at its low resolution take the image's mean
colour change); ``label_guidance=False`` ignores it.

Images are RGB (albumentations' convention): uint8, uint16, or float32
with values in [0, 1] (0..255 floats are refused, never clipped; the one
rule of ``dakpn_aug/image.py``).
The noise field is drawn from the Compose seed (same seed, same images);
``images=`` batches are translated in one call.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
from albumentations.core.transforms_interface import ImageOnlyTransform
from pydantic import Field

from .image import batch_to_tensor, tensor_to_batch
from .noise import seeded_generator
from .runtime import get_translator


class DAKPN(ImageOnlyTransform):
    """Translate synthetic images with a trained DA-KPN bundle.

    Args:
        checkpoint: path of the translator bundle.
        device: where the translator runs (``'cpu'`` inside DataLoader
            workers).
        noise: ``'seeded'`` (default): a fresh noise field per call drawn
            from the Compose seed; ``'bundle'``: the bundle's own policy
            (e.g. the paper's fixed field); ``'none'``: no noise.
        encoder_dtype: ``'bfloat16'``/``'float16'`` run the encoder under
            autocast (see ``DAKPNTranslator``); None: float32.
        label_guidance: read ``mask``/``masks`` (the encoder's class
            indices) for label guidance; never changes them.
        p: probability of applying the transform.

    Targets:
        image, images

    Image types:
        uint8, float32
    """

    class InitSchema(ImageOnlyTransform.InitSchema):
        checkpoint: str
        device: str = 'cpu'
        noise: Literal['seeded', 'bundle', 'none'] = 'seeded'
        encoder_dtype: Optional[Literal['float32', 'bfloat16',
                                        'float16']] = None
        label_guidance: bool = True
        p: float = Field(default=1.0, ge=0, le=1)

    def __init__(self, checkpoint: str, device: str = 'cpu',
                 noise: Literal['seeded', 'bundle', 'none'] = 'seeded',
                 encoder_dtype: Optional[str] = None,
                 label_guidance: bool = True,
                 p: float = 1.0):
        super().__init__(p=p)
        self.checkpoint = str(checkpoint)
        self.device = device
        self.noise = noise
        self.encoder_dtype = encoder_dtype
        self.label_guidance = label_guidance

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ('checkpoint', 'device', 'noise', 'encoder_dtype',
                'label_guidance')

    def get_params_dependent_on_data(self, params: dict[str, Any],
                                     data: dict[str, Any]) -> dict[str, Any]:
        labels = None
        if self.label_guidance:
            labels = data.get('mask')
            if labels is None and data.get('masks') is not None:
                labels = np.asarray(data['masks'])
        return {'labels': labels}

    def get_params(self) -> dict[str, Any]:
        # From the Compose-seeded generator: reproducible per Compose seed.
        return {'noise_seed': int(self.random_generator.integers(2**62))}

    def _translator(self):
        policy = {'bundle': None, 'none': 'none', 'seeded': 'fresh'}
        return get_translator(self.checkpoint, self.device,
                              policy[self.noise], self.encoder_dtype)

    def _run(self, batch: np.ndarray, noise_seed: int,
             labels: Optional[np.ndarray] = None) -> np.ndarray:
        t, dtype = batch_to_tensor(batch)  # one float rule (image.py)
        tr = self._translator()
        gen = None
        if self.noise == 'seeded':
            gen = seeded_generator(noise_seed)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim == batch.ndim:  # HxWx1 masks
                labels = labels[..., 0]
            labels = labels.reshape((len(batch), ) + labels.shape[-2:])
        out = tr.translate_batch(t.to(tr.device), generator=gen,
                                 labels=labels)
        return tensor_to_batch(out, dtype)

    def apply(self, img: np.ndarray, noise_seed: int = 0,
              labels: Optional[np.ndarray] = None,
              **params: Any) -> np.ndarray:
        return self._run(img[None], noise_seed, labels)[0]

    def apply_to_images(self, images: np.ndarray, noise_seed: int = 0,
                        labels: Optional[np.ndarray] = None,
                        **params: Any) -> np.ndarray:
        return self._run(np.asarray(images), noise_seed, labels)
