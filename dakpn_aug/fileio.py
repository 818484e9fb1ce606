"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` to a hidden temporary file beside ``path`` (same
    folder, same suffix, so writers that pick the format by suffix work),
    then rename it over ``path``: a killed process or a full disk leaves
    the old file (or none), never a truncated one, and no temporary file.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> write_atomic(d / 'a.txt', lambda p: p.write_text('hi')).read_text()
        'hi'
        >>> sorted(p.name for p in d.iterdir())
        ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.{os.getpid()}.tmp{path.suffix}')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
