"""mmengine glue for DA-KPN training: optimizer constructor, hooks, and the
work-dir-only trusted checkpoint loader."""
from .checkpoint import trust_checkpoints_under
from .hooks import DAKPNVisualizationHook, LastValMetricsHook
from .optim import MultiOptimWrapperConstructor

__all__ = ['DAKPNVisualizationHook', 'LastValMetricsHook', 'MultiOptimWrapperConstructor',
           'trust_checkpoints_under']
