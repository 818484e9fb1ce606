"""Datasets, label tables and the demo-data generator."""
from .cityscapes_labels import (CITYSCAPES_LABELS, ID_TO_TRAINID,
                                TRAIN_CLASSES, TRAIN_PALETTE, Label,
                                label_ids_to_train_ids)

__all__ = ['CITYSCAPES_LABELS', 'ID_TO_TRAINID', 'TRAIN_CLASSES',
           'TRAIN_PALETTE', 'Label', 'label_ids_to_train_ids']
