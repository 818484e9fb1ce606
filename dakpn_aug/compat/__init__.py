"""Compatibility shims for the pinned OpenMMLab stack (see each module)."""
