"""DA-KPN model parts (mmengine ``BaseModule``s).

Importing this package does not import mmseg; the parts are registered in
mmseg's ``MODELS`` registry by :mod:`dakpn_aug.mmseg`.
"""
from .discriminator import PatchDiscriminator
from .encoder import SemanticEncoder, load_encoder_config
from .kpn import KernelPredictionNet

__all__ = ['KernelPredictionNet', 'PatchDiscriminator', 'SemanticEncoder',
           'load_encoder_config']
