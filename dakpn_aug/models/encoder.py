"""The frozen semantic encoder: any mmseg segmentor, seeing a low-res copy."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..configs import configs_dir
from ..errors import DAKPNCheckpointError
from .winograd import winograd_conv3x3, winograd_weight

#: Encoder presets shipped in ``mmseg_configs/encoders``.
ENCODER_PRESETS = {
    'fcn_r50-d8': 'fcn_r50-d8_96x160.py',
    'fcn_tiny': 'fcn_tiny_96x160.py',
}

#: ``compute_dtype`` names the encoder accepts (None: float32).
ENCODER_DTYPES = {'float32': None, 'bfloat16': torch.bfloat16,
                  'float16': torch.float16}


def encoder_dtype(name: Union[str, torch.dtype, None]
                  ) -> Optional[torch.dtype]:
    """The autocast dtype of an encoder ``compute_dtype`` setting (None for
    float32), or a ValueError naming the choices."""
    if name is None:
        return None
    if isinstance(name, torch.dtype):
        name = str(name).replace('torch.', '')
    if name not in ENCODER_DTYPES:
        raise ValueError(f'encoder dtype must be one of '
                         f'{sorted(ENCODER_DTYPES)}, got {name!r}')
    return ENCODER_DTYPES[name]


def load_encoder_config(name_or_path: Union[str, Path]) -> dict:
    """Return the segmentor ``model`` dict of an mmseg config file.

    Args:
        name_or_path: a preset name (``'fcn_r50-d8'``, ``'fcn_tiny'``) or the
            path of an mmseg config whose ``model`` is a segmentor.

    Returns:
        A plain, JSON-able dict (it goes into translator bundles).
    """
    from mmengine.config import Config
    path = Path(ENCODER_PRESETS.get(str(name_or_path), name_or_path))
    if not path.is_absolute() and not path.exists():
        path = configs_dir() / 'encoders' / path
    if not path.is_file():
        raise FileNotFoundError(
            f'encoder config {str(name_or_path)!r} not found (looked at '
            f'{path}); presets: {sorted(ENCODER_PRESETS)}')
    cfg = Config.fromfile(str(path))
    if 'model' not in cfg:
        raise ValueError(f'{path} has no `model` entry')
    return json.loads(json.dumps(cfg.model.to_dict()))


#: Keys dropped from a segmentor config read from a shared file: they name
#: weight files (or URLs) to load, and a bundle carries its weights itself.
_WEIGHT_SOURCE_KEYS = ('init_cfg', 'pretrained')


def _registered_model(name: str) -> bool:
    """Whether ``name`` is registered in mmseg's MODELS or a parent registry
    (looked up in the registries' tables, never imported by path)."""
    from mmseg.registry import MODELS
    reg = MODELS
    while reg is not None:
        if name in reg.module_dict:
            return True
        reg = reg.parent
    return False


def safe_segmentor_config(value, source: Union[str, Path]) -> dict:
    """A segmentor config taken from a shared file, checked to be pure data.

    mmengine's registry resolves a ``type`` it does not know as a dotted
    import path (``'subprocess.Popen'``), and a config *file* is Python that
    ``Config.fromfile`` executes. So a bundle may only name its encoder as
    a dict whose every ``type`` is a plain name registered in mmseg's (or
    mmengine's) MODELS registry, or as one of :data:`ENCODER_PRESETS`
    (files shipped with the package). Keys that point at weight files
    (``init_cfg``, ``pretrained``) are dropped: the weights are in the bundle.

    Raises:
        DAKPNCheckpointError: naming ``source`` and what was refused.
    """
    from mmseg.utils import register_all_modules
    if isinstance(value, str):
        if value in ENCODER_PRESETS:
            return load_encoder_config(value)
        raise DAKPNCheckpointError(
            source, f'its encoder config is given as {value!r}, which is not '
            f'a preset ({sorted(ENCODER_PRESETS)}); a shared file may not '
            'name a config file to execute (a bundle carries its encoder '
            'config as data)')
    if not isinstance(value, dict):
        raise DAKPNCheckpointError(
            source, 'its encoder config must be a dict, got '
            f'{type(value).__name__}')
    register_all_modules(init_default_scope=False)

    def clean(node, where):
        if isinstance(node, dict):
            out = {}
            for key, item in node.items():
                if key in _WEIGHT_SOURCE_KEYS:
                    continue
                if key != 'type':
                    out[key] = clean(item, f'{where}.{key}'.lstrip('.'))
                elif isinstance(item, str) and '.' not in item and \
                        _registered_model(item):
                    out[key] = item
                else:
                    raise DAKPNCheckpointError(
                        source, f'its encoder config has type={item!r} at '
                        f'{where or "the top level"}, which is not a model '
                        'registered in mmseg; only registered names are '
                        'built from a shared file (never import paths)')
            return out
        if isinstance(node, (list, tuple)):
            return [clean(v, f'{where}[{i}]') for i, v in enumerate(node)]
        if node is None or isinstance(node, (str, int, float, bool)):
            return node
        raise DAKPNCheckpointError(
            source, f'its encoder config holds a {type(node).__name__} at '
            f'{where}; only JSON data is allowed')

    return clean(value, '')


#: Which of the frozen encoder's convolutions :class:`BlasConv2d` runs
#: (see there): a reduction of at least this many inputs per output
#: (channels x kernel taps), and at most this many output pixels a call.
BLAS_CONV_MIN_REDUCTION, BLAS_CONV_MAX_PIXELS = 8192, 256
#: The CPUs (``torch.backends.cpu.get_cpu_capability()``) where that was
#: measured to pay; elsewhere oneDNN keeps every convolution.
BLAS_CONV_CPUS = ('AVX2',)


class BlasConv2d(nn.Conv2d):
    """A frozen encoder's convolution that a batch of a few output pixels
    runs as BLAS matrix products on AVX2 CPUs: Winograd's F(2x2, 3x3)
    for a 3x3 with stride 1 and padding 1 (:mod:`.winograd`), ATen's
    im2col + BLAS kernel for any other.

    PyTorch's CPU default, oneDNN, runs a one-image batch through a
    convolution with a long reduction and few output pixels 1.4-1.8x
    slower than im2col + BLAS on two AVX2 cores: the FCN head's 3x3
    convolutions over 2048 and 2560 channels at 12x20 pixels (96x160 / 8)
    took 40 and 56 ms against 29 and 34, paired rounds on a Zen 3 VM,
    one thread or two (docs/speed.md), and Winograd's 2.25x fewer
    multiplications take them to ~16 and ~21. From two images on, or at
    24x40 pixels, oneDNN is as fast or faster, and so it stays there, on
    smaller reductions (the dilated 3x3s over 256 channels: 1.6x faster
    in oneDNN), under autocast, on GPUs and on CPUs not in
    :data:`BLAS_CONV_CPUS` (unmeasured). Both routes agree with oneDNN to
    ~1e-6 relative; the weights and ``state_dict`` are the
    ``nn.Conv2d``'s. The Winograd route keeps its transformed kernels
    (16/9 of the weight's size: 151 MB for FCN-R50-D8's head), made on
    its first call and again whenever the weight changes; it is not taken
    where the weight needs a gradient.
    """

    def _conv_forward(self, x: Tensor, weight: Tensor,
                      bias: Optional[Tensor]) -> Tensor:
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw) = (self.kernel_size, self.stride,
                                        self.padding)
        pixels = x.shape[0] * ((h + 2 * ph - kh) // sh + 1) * \
            ((w + 2 * pw - kw) // sw + 1)
        if not (x.device.type == 'cpu'
                and x.dtype == weight.dtype == torch.float32
                and not torch.is_autocast_enabled('cpu')
                and pixels <= BLAS_CONV_MAX_PIXELS
                and torch.backends.cpu.get_cpu_capability()
                in BLAS_CONV_CPUS):
            return super()._conv_forward(x, weight, bias)
        if (kh, kw, sh, sw, ph, pw) == (3, 3, 1, 1, 1, 1) and not (
                torch.is_grad_enabled() and weight.requires_grad):
            return winograd_conv3x3(x, self._winograd_weight(weight), bias)
        return torch.ops.aten.thnn_conv2d(x, weight, self.kernel_size,
                                          bias, self.stride, self.padding)

    def _winograd_weight(self, weight: Tensor) -> Tensor:
        # Keyed by the weight's storage and version: a load_state_dict or
        # an in-place update makes it anew (a plain attribute, not a
        # buffer: never in the state_dict). Inference tensors (a model
        # built under torch.inference_mode) have no version counter.
        key = (weight.data_ptr(),
               None if weight.is_inference() else weight._version)
        cached = getattr(self, '_winograd_cache', None)
        if cached is None or cached[0] != key:
            cached = self._winograd_cache = (key, winograd_weight(weight))
        return cached[1]

    def __getstate__(self):
        # Pickles and deep copies (a dataloader worker's translator) make
        # the kept kernels anew rather than carry them.
        state = dict(super().__getstate__())
        state.pop('_winograd_cache', None)
        return state


def use_blas_convs(model: nn.Module) -> int:
    """Make ``model``'s plain convolutions with a reduction of at least
    :data:`BLAS_CONV_MIN_REDUCTION` :class:`BlasConv2d` (same weights;
    returns how many)."""
    count = 0
    for m in model.modules():
        if type(m) is nn.Conv2d and m.groups == 1 and \
                m.dilation == (1, 1) and m.padding_mode == 'zeros' and \
                not isinstance(m.padding, str) and \
                m.in_channels * m.kernel_size[0] * m.kernel_size[1] >= \
                BLAS_CONV_MIN_REDUCTION:
            m.__class__ = BlasConv2d
            count += 1
    return count


def _load_state_dict_file(path: Union[str, Path]) -> dict:
    """Weights of an mmseg/mmengine checkpoint, loaded without unpickling
    arbitrary objects (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise DAKPNCheckpointError(path, 'file does not exist')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - turned into one clear error
        raise DAKPNCheckpointError(
            path, 'not a loadable weights-only checkpoint (corrupt, '
            'truncated, or holding arbitrary Python objects, which are never '
            f'unpickled): {type(e).__name__}: {str(e).splitlines()[0][:200]}'
        ) from None
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(
            isinstance(v, Tensor) for v in ckpt.values()):
        raise DAKPNCheckpointError(path, 'no tensor state_dict inside')
    return ckpt


class SemanticEncoder(BaseModule):
    """A frozen mmseg segmentor producing class logits at low resolution.

    Images (RGB in [0, 1], any size) are resized to ``input_size`` (96x160
    in the paper), normalised with the segmentor's own data-preprocessor
    mean/std, and passed through ``extract_feat`` and the decode head; the
    logits are resized to ``input_size``. Parameters never require grad and
    the module stays in eval mode (``train()`` does not unfreeze it:
    fine-tuning it adversarially collapses, paper section 3.3).

    Args:
        segmentor: an mmseg segmentor ``model`` dict, or a preset name or
            config path (see :func:`load_encoder_config`).
        checkpoint: optional mmseg checkpoint (weights only) to load.
        input_size: (h, w) the encoder sees.

    Example:
        >>> enc = SemanticEncoder('fcn_tiny')
        >>> enc(torch.rand(1, 3, 720, 1280)).shape
        torch.Size([1, 19, 96, 160])
    """

    def __init__(self,
                 segmentor: Union[dict, str] = 'fcn_r50-d8',
                 checkpoint: Optional[str] = None,
                 input_size: Sequence[int] = (96, 160),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        from mmengine.config import ConfigDict
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        if not isinstance(segmentor, dict):
            segmentor = load_encoder_config(segmentor)
        self.segmentor_cfg = json.loads(json.dumps(dict(segmentor)))
        # A plain dict fails inside mmseg ('dict' has no attribute 'mode').
        self.segmentor = MODELS.build(ConfigDict(copy.deepcopy(segmentor)))
        self.input_size: Tuple[int, int] = (int(input_size[0]),
                                            int(input_size[1]))
        pre = self.segmentor_cfg.get('data_preprocessor', {}) or {}
        mean = pre.get('mean', [123.675, 116.28, 103.53])
        std = pre.get('std', [58.395, 57.12, 57.375])
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1) / 255,
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1) / 255,
                             persistent=False)
        self.num_classes = int(self.segmentor.decode_head.out_channels)
        #: Autocast dtype of the segmentor's forward (None: float32); see
        #: ``DAKPNTranslator(encoder_dtype=...)``.
        self.compute_dtype: Optional[torch.dtype] = None
        if checkpoint is not None:
            self.load_segmentor_weights(checkpoint)
        use_blas_convs(self.segmentor)
        self.freeze()

    def load_segmentor_weights(self, checkpoint: str) -> None:
        state = _load_state_dict_file(checkpoint)
        missing, unexpected = self.segmentor.load_state_dict(state,
                                                             strict=False)
        # Auxiliary heads are training-only; anything else is a mismatch.
        missing = [k for k in missing if not k.startswith('auxiliary_head')]
        if missing:
            raise DAKPNCheckpointError(
                checkpoint, f'does not match the encoder config: missing '
                f'{len(missing)} keys, e.g. {missing[:3]}')

    def freeze(self) -> None:
        for p in self.segmentor.parameters():
            p.requires_grad_(False)
        self.segmentor.eval()

    def init_weights(self):
        pass  # weights come from a checkpoint; never re-initialise

    def train(self, mode: bool = True):
        super().train(mode)
        self.segmentor.eval()  # frozen: BN/dropout always in eval mode
        return self

    def resize_input(self, images: Tensor) -> Tensor:
        """Resize (B, 3, H, W) images to the encoder's input size."""
        if tuple(images.shape[-2:]) == self.input_size:
            return images
        return F.interpolate(images, size=self.input_size, mode='bilinear',
                             align_corners=False, antialias=True)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, num_classes, h, w) logits."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError('expected (B, 3, H, W) RGB images, got '
                             f'{tuple(images.shape)}')
        x = self.resize_input(images.float())
        x = (x - self.mean) / self.std
        with torch.autocast(x.device.type, dtype=self.compute_dtype,
                            enabled=self.compute_dtype is not None):
            feats = self.segmentor.extract_feat(x)
            logits = self.segmentor.decode_head(feats).float()
        if tuple(logits.shape[-2:]) != self.input_size:
            logits = F.interpolate(
                logits, size=self.input_size, mode='bilinear',
                align_corners=self.segmentor.decode_head.align_corners)
        return logits
