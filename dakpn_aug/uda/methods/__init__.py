"""Stage-2 adaptation methods (one module each), built from config by
``UDA_METHODS``."""
from .adversarial import OutputAdversarial, OutputDiscriminator
from .base import UDA_METHODS, UDABatch, UDAMethod, build_methods
from .cycle_association import PixelCycleAssociation
from .local_adversarial import LocalAdversarial, LocalDiscriminator
from .pseudo_labels import TargetPseudoLabels
from .self_training import EMASelfTraining, EMATeacher

__all__ = ['UDA_METHODS', 'UDABatch', 'UDAMethod', 'build_methods',
           'OutputAdversarial', 'OutputDiscriminator', 'EMASelfTraining',
           'EMATeacher', 'PixelCycleAssociation', 'LocalAdversarial',
           'LocalDiscriminator', 'TargetPseudoLabels']
