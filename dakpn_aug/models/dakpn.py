"""DA-KPN as an mmengine ``BaseModel``: adversarial training of the KPN.

One iteration (paper section 3.2-3.3, Eq. 3-5), with the frozen encoder's
logits of the 96x160 source image:

1. the KPN predicts 12 parameters at 96x160; the window of their bilinear
   upsampling that covers the source patch (plus the blur margin) translates
   the full-resolution source patch, exactly as whole-image translation
   would (``functional.upsample_params(crop=...)``);
2. the low-resolution translation: the 96x160 source translated with the
   96x160 parameters, blur sigma and noise scale divided by the resolution
   ratio, approximating "translate at full resolution, then downsample"
   (``lowres_mode='full'`` does exactly that instead, at full cost);
3. discriminator step (``gan_mode='alternating'``, the paper): BCE on real
   vs. translated patches (L_h) and real vs. translated low-res images (L_r);
4. KPN step: non-saturating GAN terms on both scales plus the MSE identity
   loss between translated and source patch (Eq. 5), with the discriminator
   frozen (``requires_grad`` toggled, mmagic style).

``gan_mode='grad_reversal'`` is the authors' single-pass variant: one
backward through a gradient-reversal layer updates both networks.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import Tensor

from .. import functional as DF
from ..noise import FixedNoiseCache, NoisePolicy, seeded_generator
from ..translator import DAKPNTranslator
from .discriminator import PatchDiscriminator
from .encoder import SemanticEncoder
from .kpn import KernelPredictionNet
from .stats_loss import ClassStatsLoss, class_map_for_box
from .utils import set_requires_grad, unwrap

SL = DF.PARAM_SLICES


class _GradReverse(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class DAKPN(BaseModel):
    """Domain Adversarial Kernel Prediction Network (training model).

    Args:
        encoder: :class:`SemanticEncoder` kwargs (``segmentor``,
            ``checkpoint``, ``input_size``).
        kpn: :class:`KernelPredictionNet` kwargs (``num_classes`` defaults to
            the encoder's).
        discriminator: :class:`PatchDiscriminator` kwargs.
        loss_weights: ``gan_patch`` (L_h), ``gan_lowres`` (L_r) and
            ``identity`` (L_id); the paper uses 1 for all three.
            ``stats_colour``, ``stats_texture`` and ``stats_noise``
            (default 0: the paper) weight the class-conditional statistics
            matching of :class:`~.stats_loss.ClassStatsLoss` (beyond the
            paper).
        stats_loss: :class:`~.stats_loss.ClassStatsLoss` kwargs, plus
            ``confidence``: real pixels whose encoder softmax is below it
            are left out of the real statistics.
        gan_mode: ``'alternating'`` (paper) or ``'grad_reversal'``.
        ablation: switch parts of the translation off: ``blur``, ``noise``,
            ``affine`` (paper table 6).
        noise: the noise policy (``NoisePolicy`` kwargs) used in training and
            stored in the exported bundle.
        lowres_mode: ``'approx'`` or ``'full'`` (see the module docstring).
        feature_cache_size: cache up to this many encoder outputs (float16,
            on the CPU) keyed by source index: the encoder is frozen, so
            each source image needs encoding only once.
        class_names: stored in the exported bundle.
        data_preprocessor: mmengine data preprocessor config (moves the
            batch to the device).
    """

    def __init__(self,
                 encoder: dict,
                 kpn: Optional[dict] = None,
                 discriminator: Optional[dict] = None,
                 loss_weights: Optional[dict] = None,
                 stats_loss: Optional[dict] = None,
                 gan_mode: str = 'alternating',
                 ablation: Optional[dict] = None,
                 noise: Union[dict, str] = 'fixed',
                 lowres_mode: str = 'approx',
                 feature_cache_size: int = 0,
                 class_names: Optional[Sequence[str]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if gan_mode not in ('alternating', 'grad_reversal'):
            raise ValueError("gan_mode must be 'alternating' or "
                             f"'grad_reversal', got {gan_mode!r}")
        if lowres_mode not in ('approx', 'full'):
            raise ValueError("lowres_mode must be 'approx' or 'full'")
        self.encoder = SemanticEncoder(**encoder)
        kpn = dict(kpn or {})
        kpn.setdefault('num_classes', self.encoder.num_classes)
        self.kpn = KernelPredictionNet(**kpn)
        self.discriminator = PatchDiscriminator(**(discriminator or {}))
        weights = dict(gan_patch=1.0, gan_lowres=1.0, identity=1.0,
                       stats_colour=0.0, stats_texture=0.0, stats_noise=0.0)
        unknown = set(loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'unknown loss weights {sorted(unknown)}')
        weights.update(loss_weights or {})
        self.loss_weights = weights
        stats_cfg = dict(stats_loss or {})
        self.stats_confidence = float(stats_cfg.pop('confidence', 0.0))
        self.stats_loss = None
        if any(weights[k] > 0 for k in ('stats_colour', 'stats_texture',
                                        'stats_noise')):
            self.stats_loss = ClassStatsLoss(
                self.kpn.num_classes, noise=weights['stats_noise'] > 0,
                **stats_cfg)
        abl = dict(blur=True, noise=True, affine=True)
        unknown = set(ablation or {}) - set(abl)
        if unknown:
            raise ValueError(f'unknown ablation switches {sorted(unknown)}')
        abl.update(ablation or {})
        self.ablation = abl
        self.gan_mode = gan_mode
        self.lowres_mode = lowres_mode
        self.noise_policy = NoisePolicy.coerce(noise)
        self.class_names = tuple(class_names) if class_names else None
        self.feature_cache_size = int(feature_cache_size)
        self._feature_cache: 'OrderedDict[int, Tensor]' = OrderedDict()
        self._noise_cache = FixedNoiseCache(self.noise_policy)
        # Fresh training noise is drawn from (seed, this counter): saved
        # with the model, so resuming replays the same noise.
        self.register_buffer('noise_draws', torch.zeros((), dtype=torch.long))

    def init_weights(self):
        # Only the discriminator is randomly initialised: the KPN starts at
        # the identity, the encoder comes from its checkpoint.
        unwrap(self.discriminator).init_weights()
        unwrap(self.kpn).reset_to_identity()

    # ---------------------------------------------------------- pieces

    def encode(self, source_low: Tensor,
               index: Optional[Tensor] = None) -> Tensor:
        """Encoder logits, through the feature cache when enabled."""
        enc = unwrap(self.encoder)
        if self.feature_cache_size <= 0 or index is None:
            return enc(source_low)
        keys = [int(i) for i in index]
        missing = [i for i, k in enumerate(keys)
                   if k not in self._feature_cache]
        if missing:
            feats = enc(source_low[missing])
            for j, i in enumerate(missing):
                self._feature_cache[keys[i]] = feats[j].half().cpu()
                while len(self._feature_cache) > self.feature_cache_size:
                    self._feature_cache.popitem(last=False)
        out = [self._feature_cache[k] for k in keys]
        return torch.stack(out).to(source_low.device, torch.float32)

    def ablate(self, params: Tensor) -> Tensor:
        """Switch translation components off (paper table 6)."""
        if all(self.ablation.values()):
            return params
        p = params.clone()
        if not self.ablation['affine']:
            p[:, SL['weight']] = 1.0
            p[:, SL['bias']] = 0.0
        if not self.ablation['blur']:
            p[:, SL['sigma']] = 0.0
        if not self.ablation['noise']:
            p[:, SL['noise']] = 0.0
        return p

    @property
    def color_space(self) -> str:
        return unwrap(self.kpn).color_space

    def predict_params(self, logits: Tensor) -> Tensor:
        return self.ablate(self.kpn(logits))

    def fixed_noise(self, h: int, w: int, device) -> Optional[Tensor]:
        """The policy's noise field for an (h, w) image, (1, 3, h, w)."""
        return self._noise_cache.get(h, w, device)

    def _patch_noise(self, boxes: Tensor, full_sizes: Tensor, shape,
                     device) -> Optional[Tensor]:
        if self.noise_policy.mode == 'none':
            return None
        if self.noise_policy.mode == 'fresh':
            return self.noise_policy.make(
                shape, generator=self._train_generator(), device=device)
        fields = []
        m = DF.BLUR_MARGIN
        for box, size in zip(boxes.tolist(), full_sizes.tolist()):
            t, l, h, w = box
            full = self.fixed_noise(int(size[0]), int(size[1]), device)
            # Boxes may reach m pixels past the border; the noise there is
            # cropped away with the margin, so zero padding is fine.
            full = F.pad(full, (m, m, m, m))
            fields.append(full[0, :, t + m:t + m + h, l + m:l + m + w])
        return torch.stack(fields)

    def _train_generator(self) -> torch.Generator:
        """A generator for the next fresh noise field, seeded from the
        policy's seed and a draw counter that is part of the model's state
        (so a resumed run draws exactly the noise an uninterrupted run
        would)."""
        draw = int(self.noise_draws)
        self.noise_draws += 1
        return seeded_generator((self.noise_policy.seed * 1_000_003 + draw)
                                % (2**63 - 1))

    def translate_patches(self, params: Tensor, source_patch: Tensor,
                          boxes: Tensor, full_sizes: Tensor) -> Tensor:
        """Translate full-res source patches (with the blur margin) and crop
        the margin away: the same pixels whole-image translation gives."""
        crops = [
            DF.upsample_params(params[i:i + 1], tuple(full_sizes[i].tolist()),
                               crop=tuple(boxes[i].tolist()))
            for i in range(params.shape[0])
        ]
        patch_params = torch.cat(crops)
        noise = self._patch_noise(boxes, full_sizes, source_patch.shape,
                                  source_patch.device)
        out = DF.translate(source_patch, patch_params, noise=noise,
                           color_space=self.color_space)
        m = DF.BLUR_MARGIN
        return out[..., m:out.shape[-2] - m, m:out.shape[-1] - m]

    def translate_lowres(self, params: Tensor, source_low: Tensor,
                         full_sizes: Tensor,
                         source_full: Optional[Tensor] = None) -> Tensor:
        """The whole translated image at the encoder's resolution."""
        if self.lowres_mode == 'full' and source_full is not None:
            h, w = source_full.shape[-2:]
            noise = self.fixed_noise(h, w, source_full.device)
            full = DF.translate(source_full, params, noise=noise,
                                color_space=self.color_space)
            return F.interpolate(full, size=source_low.shape[-2:],
                                 mode='bilinear', align_corners=False,
                                 antialias=True)
        # Blur and noise are in full-resolution pixels; at 1/f of the size a
        # blur of sigma shrinks to sigma/f and averaging f x f pixels divides
        # the noise std by f.
        ratio = (full_sizes[:, 0].float() / source_low.shape[-2]).view(
            -1, 1, 1, 1).to(params)
        p = torch.cat((params[:, :SL['sigma'].start],
                       params[:, SL['sigma']] / ratio,
                       params[:, SL['noise']] / ratio), dim=1)
        noise = self.fixed_noise(*source_low.shape[-2:], source_low.device)
        return DF.translate(source_low, p, noise=noise,
                            color_space=self.color_space)

    # -------------------------------------------------------- training

    @staticmethod
    def _bce(logits: Tensor, real: bool) -> Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)

    def _generate(self, data: dict):
        logits = self.encode(data['source_low'], data.get('index'))
        params = self.predict_params(logits)
        fake_patch = self.translate_patches(params, data['source_patch'],
                                            data['box'], data['full_size'])
        fake_low = self.translate_lowres(params, data['source_low'],
                                         data['full_size'],
                                         data.get('source_full'))
        m = DF.BLUR_MARGIN
        src = data['source_patch']
        src_patch = src[..., m:src.shape[-2] - m, m:src.shape[-1] - m]
        return params, fake_patch, fake_low, src_patch, logits

    def _labels(self, logits: Tensor, confidence: float = 0.0) -> Tensor:
        """Encoder classes; pixels below ``confidence`` get -1 (ignored)."""
        prob, labels = logits.detach().softmax(1).max(1)
        if confidence > 0:
            labels = torch.where(prob >= confidence, labels, -1)
        return labels

    @torch.no_grad()
    def _update_real_stats(self, data: dict) -> None:
        real_labels = self._labels(self.encode(data['real_low']),
                                   self.stats_confidence)
        patch_labels = class_map_for_box(real_labels, data['real_full_size'],
                                         data['real_box'])
        self.stats_loss.update_real(data['real_low'], real_labels,
                                    data['real_patch'], patch_labels)

    def _stats_losses(self, data: dict, logits: Tensor, fake_patch: Tensor,
                      fake_low: Tensor) -> Dict[str, Tensor]:
        """Class-conditional statistics terms (source classes from the
        encoder's prediction on the source image)."""
        if self.stats_loss is None:
            return {}
        w = self.loss_weights
        labels = self._labels(logits)
        m = DF.BLUR_MARGIN
        inner = data['box'] + torch.tensor([m, m, -2 * m, -2 * m],
                                           device=data['box'].device)
        patch_labels = class_map_for_box(labels, data['full_size'], inner)
        out = {}
        if w['stats_colour'] > 0:
            out['loss_stats_colour'] = w['stats_colour'] * \
                self.stats_loss.colour_loss(fake_low, labels)
        if w['stats_texture'] > 0:
            out['loss_stats_texture'] = w['stats_texture'] * \
                self.stats_loss.texture_loss(fake_patch, patch_labels)
        if w['stats_noise'] > 0:
            out['loss_stats_noise'] = w['stats_noise'] * \
                self.stats_loss.noise_loss(fake_patch, patch_labels)
        return out

    def _d_losses(self, data, fake_patch, fake_low) -> Dict[str, Tensor]:
        disc = self.discriminator
        real_p = disc(data['real_patch'])
        fake_p = disc(fake_patch)
        real_l = disc(data['real_low'])
        fake_l = disc(fake_low)
        losses = dict(
            loss_d_patch=self._bce(real_p, True) + self._bce(fake_p, False),
            loss_d_lowres=self._bce(real_l, True) + self._bce(fake_l, False))
        with torch.no_grad():
            acc_real = torch.cat([(real_p > 0).flatten(),
                                  (real_l > 0).flatten()]).float().mean()
            acc_fake = torch.cat([(fake_p < 0).flatten(),
                                  (fake_l < 0).flatten()]).float().mean()
        return losses, dict(d_acc_real=acc_real, d_acc_fake=acc_fake)

    def _g_losses(self, fake_patch, fake_low, src_patch) -> Dict[str, Tensor]:
        w = self.loss_weights
        return dict(
            loss_g_patch=w['gan_patch'] *
            self._bce(self.discriminator(fake_patch), True),
            loss_g_lowres=w['gan_lowres'] *
            self._bce(self.discriminator(fake_low), True),
            loss_identity=w['identity'] * F.mse_loss(fake_patch, src_patch))

    def _param_logs(self, params: Tensor) -> Dict[str, Tensor]:
        with torch.no_grad():
            w, b, sigma, n = DF.split_params(params.detach())
            return dict(param_w_mean=w.mean(), param_b_mean=b.mean(),
                        param_sigma_mean=sigma.mean(),
                        param_noise_mean=n.mean())

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        data = self.data_preprocessor(data, True)
        kpn_optim = optim_wrapper['kpn']
        disc_optim = optim_wrapper['discriminator']
        if self.gan_mode == 'grad_reversal':
            return self._train_step_grad_reversal(data, kpn_optim,
                                                  disc_optim)
        log = {}
        # Translate once; the discriminator sees detached copies, the KPN
        # step reuses the graph (the KPN has not changed in between).
        with kpn_optim.optim_context(self.kpn):
            params, fake_patch, fake_low, src_patch, logits = \
                self._generate(data)
        if self.stats_loss is not None:
            self._update_real_stats(data)
        set_requires_grad(self.discriminator, True)
        with disc_optim.optim_context(self.discriminator):
            d_losses, accs = self._d_losses(data, fake_patch.detach(),
                                            fake_low.detach())
            loss_d, log_d = self.parse_losses(d_losses)
        disc_optim.update_params(loss_d)
        log.update(log_d)
        log.update(accs)
        # KPN step against the updated, frozen discriminator.
        set_requires_grad(self.discriminator, False)
        with kpn_optim.optim_context(self.kpn):
            g_losses = self._g_losses(fake_patch, fake_low, src_patch)
            g_losses.update(self._stats_losses(data, logits, fake_patch,
                                               fake_low))
            loss_g, log_g = self.parse_losses(g_losses)
        kpn_optim.update_params(loss_g)
        set_requires_grad(self.discriminator, True)
        log.update({k: v for k, v in log_g.items() if k != 'loss'})
        log['loss_g'] = log_g['loss']
        log['loss_d'] = log_d['loss']
        log.pop('loss', None)
        log.update(self._param_logs(params))
        return log

    def _train_step_grad_reversal(self, data, kpn_optim, disc_optim):
        # One backward: D minimises its BCE, the KPN receives the reversed
        # gradient (it maximises D's loss on translations).
        kpn_optim.optimizer.zero_grad()
        disc_optim.optimizer.zero_grad()
        params, fake_patch, fake_low, src_patch, logits = \
            self._generate(data)
        if self.stats_loss is not None:
            self._update_real_stats(data)
        rev_patch = _GradReverse.apply(fake_patch)
        rev_low = _GradReverse.apply(fake_low)
        d_losses, accs = self._d_losses(data, rev_patch, rev_low)
        d_losses['loss_identity'] = self.loss_weights['identity'] * \
            F.mse_loss(fake_patch, src_patch)
        d_losses.update(self._stats_losses(data, logits, fake_patch,
                                           fake_low))
        loss, log = self.parse_losses(d_losses)
        loss.backward()
        disc_optim.step()
        kpn_optim.step()
        log.update(accs)
        log.update(self._param_logs(params))
        return log

    # ------------------------------------------------------ inference

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        """``mode='tensor'``: translate a (B, 3, H, W) batch in [0, 1]."""
        if mode != 'tensor':
            raise ValueError('DAKPN trains through train_step; forward only '
                             "supports mode='tensor' (translation)")
        with torch.no_grad():
            params = self.predict_params(self.encode(inputs))
            noise = self.fixed_noise(*inputs.shape[-2:], inputs.device)
            return DF.translate(inputs, params, noise=noise,
                                color_space=self.color_space)

    def val_step(self, data):
        raise NotImplementedError('DA-KPN has no validation step; use '
                                  'tools/domain_gap.py on translations')

    test_step = val_step

    def to_translator(self) -> DAKPNTranslator:
        """A :class:`DAKPNTranslator` sharing this model's encoder and KPN
        (ablation switches are baked into the KPN's bounds)."""
        import copy
        kpn = copy.deepcopy(unwrap(self.kpn)).cpu()
        if not self.ablation['blur'] or not self.ablation['noise'] or \
                not self.ablation['affine']:
            _bake_ablation(kpn, self.ablation)
        enc = copy.deepcopy(unwrap(self.encoder)).cpu()
        return DAKPNTranslator(enc, kpn, noise=self.noise_policy,
                               class_names=self.class_names)


def _bake_ablation(kpn: KernelPredictionNet, ablation: dict) -> None:
    """Make the KPN itself output the ablated parameters (so the exported
    bundle translates exactly as in training)."""
    with torch.no_grad():
        w, b = kpn.conv.weight, kpn.conv.bias
        if not ablation['affine']:
            w[0:6] = 0
            b[0:6] = 0
        if not ablation['blur']:
            w[SL['sigma']] = 0
            b[SL['sigma']] = 0
        if not ablation['noise']:
            w[SL['noise']] = 0
            b[SL['noise']] = 0
