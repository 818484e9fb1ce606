"""``DAKPNTranslator``: the object users hold (encoder + KPN + noise policy).

A translator is saved as one *bundle* file: a dict of tensors and one JSON
string, written with ``torch.save`` and read with ``torch.load(...,
weights_only=True)``, so loading a shared file never unpickles code.
"""
from __future__ import annotations

import json
import time
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from . import functional as DF
from .errors import DAKPNCheckpointError, DAKPNInputError
from .fileio import write_atomic
from .image import check_unit_range, image_to_tensor, tensor_to_image
from .noise import (NOISE_MODES, FixedNoiseCache, NoisePolicy,  # noqa: F401
                    seeded_generator)
from .version import __version__

BUNDLE_FORMAT = 'dakpn-bundle'
#: 2: the KPN's colour space and the noise distribution are stored; version
#: 1 bundles predate both and load with the paper's ('hsv', 'clamped').
BUNDLE_VERSION = 2


def _check_metadata(path, meta: dict) -> None:
    """The metadata fields used at load time, checked before use so that a
    bad value names the file instead of failing later inside torch."""
    def bad(what):
        raise DAKPNCheckpointError(path, f'bundle metadata: {what}')

    size = meta['encoder'].get('input_size')
    if not (isinstance(size, list) and len(size) == 2 and
            all(isinstance(v, int) and 8 <= v <= 4096 for v in size)):
        bad(f'encoder input_size must be [h, w] with 8 <= h, w <= 4096, got '
            f'{size!r}')
    noise = meta.get('noise', 'fixed')
    try:
        NoisePolicy.coerce(noise)
    except (TypeError, ValueError) as e:
        bad(f'invalid noise policy {noise!r}: {e}')
    if meta.get('blur_mode', 'fast') not in ('fast', 'exact'):
        bad(f'blur_mode must be "fast" or "exact", got '
            f'{meta.get("blur_mode")!r}')
    names = meta.get('class_names')
    if names is not None and not (isinstance(names, list) and all(
            isinstance(n, str) for n in names)):
        bad('class_names must be a list of strings')


class DAKPNTranslator(nn.Module):
    """Translate synthetic images with a trained DA-KPN; labels never move.

    Args:
        encoder: a :class:`~dakpn_aug.models.SemanticEncoder` (frozen).
        kpn: a :class:`~dakpn_aug.models.KernelPredictionNet`.
        noise: a :class:`NoisePolicy`, or ``'fixed'``/``'fresh'``/``'none'``.
        class_names: the encoder's classes (metadata, for visualisation).
        blur_mode: ``'fast'`` or ``'exact'``.
        encoder_dtype: ``None``/``'float32'`` (default), ``'bfloat16'`` or
            ``'float16'``: the encoder's convolutions under autocast in that
            dtype (its logits and the translation stay float32): a faster
            encoder on CPUs with AVX512-BF16 and on GPUs, slightly
            different images (README, "Speed": the measured speed-up and
            the change). On a CPU without native bfloat16 it is slower:
            measure before switching it on.
        label_guidance: when a translation is given the image's label map
            (``labels=``; every front door passes the synthetic image's own
            labels), pixels whose class the encoder did not see there take
            the image's mean colour change instead of their surroundings'
            (``functional.label_guidance_mask``; README, "Using a trained
            translator": thin classes such as poles and signs). ``False``: labels are ignored
            (the paper's translation).

    Example (a trained one: ``DAKPNTranslator.from_checkpoint(
    'dakpn_bundle.pth')``; ``build`` gives the identity initialisation):
        >>> tr = DAKPNTranslator.build('fcn_tiny')
        >>> image = np.zeros((96, 160, 3), np.uint8)
        >>> tr(image).shape            # HxWx3 uint8 RGB -> HxWx3 uint8 RGB
        (96, 160, 3)
        >>> tr.translate_batch(torch.rand(2, 3, 96, 160)).shape
        torch.Size([2, 3, 96, 160])
    """

    def __init__(self,
                 encoder: nn.Module,
                 kpn: nn.Module,
                 noise: Union[NoisePolicy, str, dict] = 'fixed',
                 class_names: Optional[Sequence[str]] = None,
                 blur_mode: str = 'fast',
                 encoder_dtype: Union[str, torch.dtype, None] = None,
                 label_guidance: bool = True):
        super().__init__()
        self.encoder = encoder
        self.kpn = kpn
        self.noise = noise  # the policy, its fixed fields and generator
        self.class_names = tuple(class_names) if class_names else None
        self.blur_mode = blur_mode
        self.encoder_dtype = encoder_dtype
        self.label_guidance = bool(label_guidance)
        self.eval()

    @property
    def encoder_dtype(self) -> Optional[torch.dtype]:
        """The encoder's autocast dtype (None: float32); settable by name."""
        return getattr(self.encoder, "compute_dtype", None)

    @encoder_dtype.setter
    def encoder_dtype(self, value) -> None:
        from .models.encoder import encoder_dtype
        self.encoder.compute_dtype = encoder_dtype(value)

    @property
    def noise(self) -> NoisePolicy:
        """The noise policy (``dakpn_aug.noise``); setting it (a policy, a
        mode string or a dict) also resets its fixed fields and generator."""
        return self._noise

    @noise.setter
    def noise(self, value) -> None:
        policy = NoisePolicy.coerce(value)
        self.__dict__['_noise'] = policy
        self.__dict__['_fixed_noise'] = FixedNoiseCache(policy)
        self.__dict__['_generator'] = seeded_generator(policy.seed)

    # torch < 2.2 cannot pickle a torch.Generator: copies and pickles (spawn
    # workers, deepcopy) carry its state instead, so a copy draws the same
    # fresh noise as the original would.
    def __getstate__(self):
        state = dict(self.__dict__)
        gen = state.pop('_generator', None)
        if gen is not None:
            state['_generator_state'] = (str(gen.device), gen.get_state())
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop('_generator_state', None)
        super().__setstate__(state)
        if saved is not None:
            device, gen_state = saved
            gen = torch.Generator(device)
            gen.set_state(gen_state)
            self.__dict__['_generator'] = gen

    # ----------------------------------------------------------- building

    @classmethod
    def build(cls,
              encoder: Union[str, dict] = 'fcn_r50-d8',
              encoder_checkpoint: Optional[str] = None,
              input_size: Sequence[int] = (96, 160),
              kpn_cfg: Optional[dict] = None,
              noise: Union[NoisePolicy, str, dict] = 'fixed',
              class_names: Optional[Sequence[str]] = None,
              device: Union[str, torch.device] = 'cpu') -> 'DAKPNTranslator':
        """An identity-initialised translator around an mmseg encoder."""
        from .models import KernelPredictionNet, SemanticEncoder
        from .data.cityscapes_labels import TRAIN_CLASSES
        enc = SemanticEncoder(encoder, checkpoint=encoder_checkpoint,
                              input_size=input_size)
        kpn_cfg = dict(kpn_cfg or {})
        kpn_cfg.setdefault('num_classes', enc.num_classes)
        kpn = KernelPredictionNet(**kpn_cfg)
        if class_names is None and enc.num_classes == 19:
            class_names = TRAIN_CLASSES
        return cls(enc, kpn, noise=noise,
                   class_names=class_names).to(device)

    @property
    def device(self) -> torch.device:
        return next(self.kpn.parameters()).device

    # ------------------------------------------------------------ running

    @torch.no_grad()
    def predict_params(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, 12, h, w) parameters at the
        encoder's low resolution (see ``functional.PARAM_NAMES``)."""
        images = self._check_batch(images)
        return self.kpn(self.encoder(images))

    def noise_for(self, shape: Sequence[int],
                  generator: Optional[torch.Generator] = None,
                  device=None) -> Optional[Tensor]:
        """The noise field for a batch of ``shape`` (B, 3, H, W)."""
        b, _, h, w = shape
        device = self.device if device is None else device
        if self.noise.mode == 'none':
            return None
        if self.noise.mode == 'fixed' and generator is None:
            return self._fixed_noise.get(h, w, device)
        gen = self._generator if generator is None else generator
        return self.noise.make((b, 3, h, w), generator=gen, device=device)

    @torch.no_grad()
    def translate_batch(self,
                        images: Tensor,
                        noise: Optional[Tensor] = None,
                        generator: Optional[torch.Generator] = None,
                        params: Optional[Tensor] = None,
                        labels: Optional[Tensor] = None) -> Tensor:
        """Translate (B, 3, H, W) RGB floats in [0, 1] on any device.

        Args:
            images: the batch; it stays on its device (the model moves to it
                if needed).
            noise: an explicit noise field (overrides the policy).
            generator: draw a fresh field from this generator (overrides a
                ``'fixed'`` policy; ignored for ``'none'``).
            params: precomputed low-res parameters (skips the encoder unless
                ``labels`` need its prediction).
            labels: (B, H, W) integer label maps in the encoder's class
                indices (other values, e.g. 255, are "unknown"), for label
                guidance (see the class); None: none.

        Returns:
            (B, 3, H, W) translated images, same dtype and device.
        """
        images = self._check_batch(images)
        if images.device != self.device:
            self.to(images.device)
        mean_colour = None
        if labels is not None and self.label_guidance:
            labels = self._check_labels(labels, images)
            logits = self.encoder(images)
            mean_colour = DF.label_guidance_mask(labels, logits)
            self._warn_if_foreign(labels, mean_colour)
            if params is None:
                params = self.kpn(logits)
        elif params is None:
            params = self.kpn(self.encoder(images))
        if noise is None:
            noise = self.noise_for(images.shape, generator=generator,
                                   device=images.device)
        # An accelerator translates in the batch's own float dtype (float16
        # and bfloat16 batches are what its throughput numbers are for);
        # the CPU in float32 (its half-precision kernels are slow or
        # missing, and OpenCV's filters are float32).
        work = images if images.device.type != 'cpu' else images.float()
        out = DF.translate(work, params, noise=noise,
                           blur_mode=self.blur_mode,
                           color_space=self.kpn.color_space,
                           mean_colour=mean_colour)
        return out.to(images.dtype)

    def forward(self, image, generator: Optional[torch.Generator] = None,
                labels=None):
        """Translate one HxWx3 uint8 RGB numpy image (returns the same shape
        and dtype), or a (B, 3, H, W) float tensor (see translate_batch).
        ``labels``: its HxW label map (numpy or tensor; (B, H, W) for a
        batch), for label guidance."""
        if isinstance(image, Tensor):
            return self.translate_batch(image, generator=generator,
                                        labels=labels)
        tensor, restore = image_to_tensor(image)
        if labels is not None:
            labels = self._as_tensor(labels)[None]
        out = self.translate_batch(tensor.to(self.device),
                                   generator=generator, labels=labels)
        return tensor_to_image(out, restore)

    def _warn_if_foreign(self, labels: Tensor, mask: Tensor) -> None:
        """Warn when the first labels a translator is given disagree with
        the encoder on most pixels: likely another id space (Cityscapes
        label ids instead of the train ids the encoder predicts), which
        would give most of the image the mean colour change. Checked once
        per translator (two reductions over the image: ~10% of a
        720x1280 translation)."""
        if self.__dict__.get('_labels_checked'):
            return
        self.__dict__['_labels_checked'] = True
        known = ((labels >= 0) & (labels < self.kpn.num_classes)).sum()
        if known and float(mask.sum()) > 0.5 * float(known):
            warnings.warn(
                f'label guidance: the labels disagree with the encoder on '
                f'{float(mask.sum()) / float(known):.0%} of their pixels; '
                'it expects the encoder\'s class indices (train ids, 255 '
                'for ignore). Map the labels, or pass label_guidance=False',
                stacklevel=4)

    @staticmethod
    def _as_tensor(labels) -> Tensor:
        if isinstance(labels, np.ndarray):  # flipped views included
            return torch.from_numpy(np.ascontiguousarray(labels))
        return torch.as_tensor(labels)

    @classmethod
    def _check_labels(cls, labels, images: Tensor) -> Tensor:
        labels = cls._as_tensor(labels)
        b, _, h, w = images.shape
        if labels.dim() == 4 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.dim() != 3 or labels.shape[0] not in (1, b) or \
                tuple(labels.shape[-2:]) != (h, w):
            raise DAKPNInputError(
                f'label maps must be (B, H, W) = ({b}, {h}, {w}) like the '
                f'images, got {tuple(labels.shape)}')
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise DAKPNInputError(f'label maps must be integers, got '
                                  f'{labels.dtype}')
        return labels.expand(b, h, w).to(images.device)

    @staticmethod
    def _check_batch(images: Tensor) -> Tensor:
        if not isinstance(images, Tensor):
            raise TypeError('expected a (B, 3, H, W) float tensor, got '
                            f'{type(images).__name__}; use translator(image) '
                            'for numpy images')
        DF._check_image(images, 'images')
        check_unit_range(images)
        return images

    def train(self, mode: bool = True):
        super().train(mode)
        return self

    # ------------------------------------------------------------ bundles

    def metadata(self) -> dict:
        return dict(
            encoder=dict(segmentor=self.encoder.segmentor_cfg,
                         input_size=list(self.encoder.input_size),
                         num_classes=self.encoder.num_classes),
            kpn=self.kpn.config(),
            noise=asdict(self.noise),
            class_names=list(self.class_names) if self.class_names else None,
            blur_mode=self.blur_mode,
        )

    def save(self, path: Union[str, Path], extra_meta: Optional[dict] = None
             ) -> Path:
        """Write the bundle (atomically: temp file, then rename)."""
        path = Path(path)
        meta = self.metadata()
        meta.update(format=BUNDLE_FORMAT, format_version=BUNDLE_VERSION,
                    dakpn_aug_version=__version__,
                    created=time.strftime('%Y-%m-%dT%H:%M:%S'),
                    extra=extra_meta or {})
        bundle = {
            'format': BUNDLE_FORMAT,
            'format_version': BUNDLE_VERSION,
            'meta_json': json.dumps(meta),
            'encoder': {
                k: v.detach().cpu()
                for k, v in self.encoder.segmentor.state_dict().items()
            },
            'kpn': {k: v.detach().cpu()
                    for k, v in self.kpn.state_dict().items()},
        }
        try:
            write_atomic(path, lambda tmp: torch.save(bundle, tmp))
        except (OSError, RuntimeError) as e:
            # A full disk or read-only folder: one clear error, no temporary
            # file left behind, an older bundle at ``path`` untouched.
            raise OSError(f'cannot write DA-KPN bundle {path}: '
                          f'{str(e).splitlines()[0][:300]}') from None
        return path

    @staticmethod
    def read_bundle(path: Union[str, Path]) -> Tuple[dict, dict]:
        """Load and validate a bundle file: ``(meta, tensors)``.

        Raises:
            DAKPNCheckpointError: missing, unreadable, truncated, corrupt or
                wrong-format file (the message names the file and reason).
        """
        path = Path(path)
        if not path.exists():
            raise DAKPNCheckpointError(path, 'file does not exist')
        if not path.is_file():
            raise DAKPNCheckpointError(path, 'not a file')
        if path.stat().st_size == 0:
            raise DAKPNCheckpointError(path, 'file is empty')
        if not zipfile.is_zipfile(path):
            raise DAKPNCheckpointError(
                path, 'not a torch zip archive (truncated, corrupt, or not '
                'written by torch.save)')
        try:
            data = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: BLE001 - one clear error
            msg = str(e).splitlines()[0][:300] if str(e) else ''
            if 'Weights only load failed' in str(e):
                reason = ('holds arbitrary Python objects, which are never '
                          'unpickled (weights_only=True); a DA-KPN bundle '
                          'holds only tensors and JSON. Export one with '
                          'tools/export_bundle.py')
            else:
                reason = f'corrupt or truncated: {type(e).__name__}: {msg}'
            raise DAKPNCheckpointError(path, reason) from None
        if not isinstance(data, dict) or data.get('format') != BUNDLE_FORMAT:
            keys = sorted(data)[:6] if isinstance(data, dict) else type(data)
            raise DAKPNCheckpointError(
                path, f'not a DA-KPN bundle (no format={BUNDLE_FORMAT!r} '
                f'entry; top-level keys: {keys}). mmengine/mmseg training '
                'checkpoints are converted with tools/export_bundle.py')
        version = data.get('format_version')
        if not isinstance(version, int) or version > BUNDLE_VERSION:
            raise DAKPNCheckpointError(
                path, f'bundle format version {version!r} is not supported '
                f'by dakpn-aug {__version__} (supports <= {BUNDLE_VERSION})')
        try:
            meta = json.loads(data['meta_json'])
            tensors = {'encoder': dict(data['encoder']),
                       'kpn': dict(data['kpn'])}
            meta['encoder']['segmentor']
            meta['kpn']['num_classes']
        except (KeyError, TypeError, ValueError) as e:
            raise DAKPNCheckpointError(
                path, f'bundle metadata is incomplete or invalid: {e!r}'
            ) from None
        _check_metadata(path, meta)
        for part, state in tensors.items():
            for key, value in state.items():
                if not isinstance(value, Tensor):
                    raise DAKPNCheckpointError(
                        path, f'{part} entry {key!r} is not a tensor')
                if value.is_floating_point() and \
                        not torch.isfinite(value).all():
                    raise DAKPNCheckpointError(
                        path, f'{part} weights {key!r} hold NaN or infinite '
                        'values (a diverged training?)')
        return meta, tensors

    @staticmethod
    def bundle_digest(path: Union[str, Path]) -> str:
        """SHA-256 of what a bundle is: its weights and its metadata except
        the time it was written (``created``). The same recipe retrained bit
        for bit, or a copy of the file, gives the same digest; any other
        weight or setting another one (the file's own hash changes with
        every save). The file is validated as by :meth:`read_bundle`."""
        import hashlib
        meta, tensors = DAKPNTranslator.read_bundle(path)
        meta = {k: v for k, v in meta.items() if k != 'created'}
        h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        for part in sorted(tensors):
            for key in sorted(tensors[part]):
                value = tensors[part][key]
                h.update(f'{part}/{key}:{value.dtype}:{tuple(value.shape)}'
                         .encode())
                h.update(value.contiguous().reshape(-1).view(torch.uint8)
                         .numpy().tobytes())
        return h.hexdigest()

    @classmethod
    def from_checkpoint(cls,
                        path: Union[str, Path],
                        device: Union[str, torch.device] = 'cpu',
                        noise: Union[NoisePolicy, str, dict, None] = ...,
                        blur_mode: Optional[str] = None,
                        encoder_dtype: Union[str, torch.dtype, None] = None,
                        label_guidance: bool = True
                        ) -> 'DAKPNTranslator':
        """Load a translator bundle written by :meth:`save` (or by
        ``tools/train_dakpn.py`` / ``tools/export_bundle.py``).

        Args:
            path: the bundle file.
            device: where to put the model.
            noise: override the bundle's noise policy.
            blur_mode: override the blur mode.
            encoder_dtype: the encoder's autocast dtype (see the class).
            label_guidance: use label maps given to translations (see the
                class).
        """
        from .models import KernelPredictionNet, SemanticEncoder
        from .models.encoder import safe_segmentor_config
        meta, tensors = cls.read_bundle(path)
        enc_meta = meta['encoder']
        if meta.get('format_version', 1) < 2:
            meta['kpn'].setdefault('color_space', 'hsv')
            if isinstance(meta.get('noise'), dict):
                meta['noise'].setdefault('distribution', 'clamped')
        # Never execute anything a shared file names (see the function).
        segmentor = safe_segmentor_config(enc_meta['segmentor'], path)
        try:
            enc = SemanticEncoder(segmentor,
                                  input_size=enc_meta['input_size'])
            kpn = KernelPredictionNet(**meta['kpn'])
        except Exception as e:  # noqa: BLE001
            raise DAKPNCheckpointError(
                path, f'cannot build the model its metadata describes: '
                f'{type(e).__name__}: {e}') from None
        for name, module, state in (('encoder', enc.segmentor,
                                     tensors['encoder']),
                                    ('kpn', kpn, tensors['kpn'])):
            try:
                module.load_state_dict(state, strict=True)
            except RuntimeError as e:
                first = str(e).splitlines()
                raise DAKPNCheckpointError(
                    path, f'{name} weights do not match the architecture in '
                    f'its metadata: {" ".join(first[:3])[:400]}') from None
        enc.freeze()
        tr = cls(enc, kpn,
                 noise=meta.get('noise', 'fixed') if noise is ... else noise,
                 class_names=meta.get('class_names'),
                 blur_mode=blur_mode or meta.get('blur_mode', 'fast'),
                 encoder_dtype=encoder_dtype, label_guidance=label_guidance)
        tr.bundle_meta = meta
        return tr.to(device)
