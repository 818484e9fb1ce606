"""How the translation's no-autograd CPU path runs: kept memory, layout
changes and the tile threads. No maths here: all of Eq. 1 is in
:mod:`dakpn_aug.functional`, which calls these to run its OpenCV kernels
fast on a few cores (README, "Speed"; the measurements behind every
choice: docs/speed.md).

- **Kept memory.** glibc hands image-sized buffers back to the kernel
  when they are freed, so a fresh one costs a page fault per 4 KiB on
  every call: temporaries that never leave a call live in buffers kept
  per thread (:func:`scratch`, :func:`scratch_plane`), and outputs above
  32 MiB reuse the memory of earlier outputs their callers have freed
  (:func:`recycled_output`).
- **Layouts.** Planes (B, C, H, W) to channels-last (B, H, W, C) and
  back by ``cv2.merge``/``cv2.split`` (:func:`planes_into`,
  :func:`channels_last`, :func:`planes`).
- **Threads.** Tiles and bands of an image run on one pool of
  ``torch.get_num_threads()`` threads per process (:func:`on_pool`,
  :func:`run_tiles`), whose own torch kernels run on one thread each; a
  forked child (a dataloader worker) makes its own pool.
"""
from __future__ import annotations

import math
import os
import threading
import weakref
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

_SCRATCH = threading.local()


def scratch(slot: str, shape: Tuple[int, ...]) -> Tensor:
    """A float32 CPU buffer of ``shape`` for a temporary of the
    no-autograd CPU path that never leaves the call, kept per thread and
    ``slot`` (replaced when the shape changes). glibc hands image-sized
    buffers back to the kernel when they are freed, so a fresh one costs a
    page fault per 4 KiB on every call (on the development VM: 1-5 us
    each, ~20-50 ms per 720x1280 translation for its 6 such temporaries);
    a kept one costs nothing. Holds ~66 MB per thread at 720x1280. A slot
    keeps the largest size asked for (bands of an image differ in height:
    a buffer replaced at every change of shape would be fresh memory
    again)."""
    buffers = _SCRATCH.__dict__.setdefault('buffers', {})
    buf, numel = buffers.get(slot), math.prod(shape)
    if buf is None or buf.numel() < numel:
        # A normal tensor even when made under inference mode: an
        # inference tensor could not be written outside it.
        with torch.inference_mode(False):
            buf = buffers[slot] = torch.empty(numel)
    return buf[:numel].view(shape)


def scratch_plane(rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) float32 array in a buffer kept per thread that grows
    to the largest size asked for: a blur level filtered on one box
    (``functional._blur_plane_cv2``), read once by the blend and never
    returned. A numpy view: making it costs no torch call (each torch call
    lets the other tile thread take the GIL, and a 720x1280 image has
    100-270 boxes)."""
    buf = getattr(_SCRATCH, 'plane', None)
    if buf is None or buf.size < rows * cols:
        buf = _SCRATCH.plane = np.empty(rows * cols, np.float32)
    return buf[:rows * cols].reshape(rows, cols)


def opencv_images(t: Tensor):
    """The (H, W, C) images of a (B, H, W, C) tensor whose rows are
    contiguous, as numpy views with plain C strides (torch may give a size-1
    dimension any stride, which OpenCV refuses as an output layout)."""
    from numpy.lib.stride_tricks import as_strided
    for img in t.numpy():
        h, w, c = img.shape
        yield as_strided(img, img.shape, (img.strides[0] if h > 1 else
                                          w * c * img.itemsize,
                                          c * img.itemsize, img.itemsize))


# Layout changes of float32 CPU tensors between planes (B, C, H, W) and
# channels-last (B, H, W, C) memory: cv2.merge and cv2.split are 3-5x
# faster than torch's permuted copies (measured at 720x1280 and on tiles).
# Either side may be a view whose rows are contiguous (a tile of a larger
# tensor); anything else takes torch's copy.


def rows_contiguous(t: Tensor, channels: int) -> bool:
    return t.stride(-1) == 1 and (channels == 1 or t.stride(-2) == channels)


def planes_into(out: Tensor, planes: Tensor) -> Tensor:
    """``out`` (B, H, W, C) = ``planes`` (B, C, H, W)."""
    if not (rows_contiguous(out, out.shape[-1]) and planes.stride(-1) == 1):
        return out.copy_(planes.permute(0, 2, 3, 1))
    import cv2
    for img_planes, dst in zip(planes, opencv_images(out)):
        cv2.merge([plane.numpy() for plane in img_planes], dst=dst)
    return out


def channels_last(planes: Tensor, slot: Optional[str] = None) -> Tensor:
    """A contiguous (B, H, W, C) copy of ``planes`` (B, C, H, W), in the
    :func:`scratch` buffer ``slot`` if given."""
    b, c, h, w = planes.shape
    out = torch.empty(b, h, w, c, dtype=planes.dtype) if slot is None \
        else scratch(slot, (b, h, w, c))
    return planes_into(out, planes)


def planes(x: Tensor) -> Tensor:
    """A contiguous (B, C, H, W) copy of ``x`` (B, H, W, C)."""
    b, h, w, c = x.shape
    out = torch.empty(b, c, h, w, dtype=x.dtype)
    if not rows_contiguous(x, c):
        return out.copy_(x.permute(0, 3, 1, 2))
    import cv2
    for src, dst in zip(opencv_images(x), out):
        cv2.split(src, [plane.numpy() for plane in dst])
    return out


def tiles(height: int, width: int, tile: Tuple[int, int]
          ) -> List[Tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` of the tiles covering an image:
    equal bands of at most ``tile[0]`` rows, each cut into equal columns
    of at most ``tile[1]``. Equal tiles keep the threads equally busy: 720
    rows in bands of 128 were five full bands and one of 80, which left
    one of two threads 7% more rows than the other (6 bands of 120:
    0.95-0.98x the time for typical parameters, 0.96-1.04x for the full
    sigma range, 0.97-0.98x for a trained bundle's; runs of paired rounds
    on 2 cores; the sizes asked for now: ``functional._BLUR_TILE`` and
    ``_TRANSLATE_TILE``). The tiles do not depend on the number of
    threads: nor does the result (OpenCV's filters round the last bit by
    where a box starts)."""
    n_rows, n_cols = -(-height // tile[0]), -(-width // tile[1])
    rows = [round(i * height / n_rows) for i in range(n_rows + 1)]
    cols = [round(i * width / n_cols) for i in range(n_cols + 1)]
    return [(top, bottom, left, right)
            for top, bottom in zip(rows[:-1], rows[1:])
            for left, right in zip(cols[:-1], cols[1:])]


def run_tiles(height: int, width: int, tile: Tuple[int, int],
              work) -> None:
    """``work(top, bottom, left, right)`` for every tile of
    :func:`tiles`, on the thread pool (:func:`on_pool`; OpenCV's
    separable filter is single-threaded; tiles write disjoint pixels)."""
    on_pool(tiles(height, width, tile), lambda box: work(*box))


def on_pool(items: list, work) -> None:
    """``work(item)`` for every item, on a pool of
    ``torch.get_num_threads()`` threads (OpenCV and torch release the GIL),
    or in this thread when that is one (so in a pool thread: nothing
    nests). Autograd modes are per thread: the pool threads take the
    caller's inference mode, and never record a graph."""
    inference = torch.is_inference_mode_enabled()

    def run(item) -> None:
        with torch.inference_mode(inference), torch.no_grad():
            work(item)

    pool = band_pool(min(torch.get_num_threads(), len(items)))
    if pool is None:
        for item in items:
            run(item)
    else:
        for future in [pool.submit(run, item) for item in items]:
            future.result()


#: Outputs above glibc's largest mmap threshold that their callers have
#: freed, kept for the next output of the same size (most recent last),
#: up to this many bytes in all.
_RECYCLED: List[np.ndarray] = []
_RECYCLED_MAX_BYTES = 512 << 20
_RECYCLED_LOCK = threading.Lock()


def recycled_output(shape: Tuple[int, ...]) -> Tensor:
    """A new float32 CPU tensor of ``shape`` for an output larger than
    ``functional._WHOLE_IMAGE_MAX_BYTES``, in the memory of an earlier
    output of the same size once its caller has freed it. glibc maps such a
    buffer afresh for every allocation and unmaps it when freed, so every
    output costs a page fault per 4 KiB when first written (a 4K image's
    100 MB: ~24,000 faults, 40-60 ms on the development VM); a recycled
    buffer is already mapped. The caller owns the tensor as any other: its
    memory comes back here only when the last reference to it is gone."""
    numel = math.prod(shape)
    with _RECYCLED_LOCK:
        sizes = [buf.size for buf in _RECYCLED]
        base = _RECYCLED.pop(sizes.index(numel)) if numel in sizes else None
    if base is None:
        base = np.empty(numel, np.float32)
    view = base[:]  # the caller's tensor keeps this view alive
    weakref.finalize(view, _recycle, base)
    return torch.from_numpy(view).view(shape)


def _recycle(base: np.ndarray) -> None:
    with _RECYCLED_LOCK:
        _RECYCLED.append(base)
        while sum(buf.nbytes for buf in _RECYCLED) > _RECYCLED_MAX_BYTES:
            _RECYCLED.pop(0)


_POOL: dict = {}
_POOL_LOCK = threading.Lock()  # callers on several threads make one pool


def _forget_pools() -> None:
    """In a forked child (a dataloader worker): the parent's pool has no
    threads here, and its lock may have been held at the fork (as may the
    recycled outputs' lock)."""
    global _POOL_LOCK, _RECYCLED_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()
    _RECYCLED_LOCK = threading.Lock()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_forget_pools)


def _one_kernel_thread(ready) -> None:
    """A tile thread's initializer: its torch kernels run on one thread.
    The pool's threads already share the cores; a kernel that forks onto
    an OpenMP team from a tile thread starts a second team per tile thread
    (twice the threads of the cores), and waking it costs about two context
    switches per call: at 720x1280 ~2,400 switches per translation against
    ~350 with one kernel thread, 11-22% faster (measured on 2 cores)."""
    try:
        torch.get_num_threads()  # settle the thread's count (torch sets
        torch.set_num_threads(1)  # it on first use) before setting it
    finally:
        ready.wait()


def band_pool(workers: int):
    """A thread pool of ``workers`` threads for this process, whose
    threads run torch's kernels on one thread each
    (:func:`_one_kernel_thread`), or None for one worker."""
    if workers <= 1:
        return None
    with _POOL_LOCK:
        if workers not in _POOL:
            _POOL.clear()
            _POOL[workers] = _new_pool(workers)
        return _POOL[workers]


def _new_pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    # torch.set_num_threads sets the calling thread's count and the count
    # threads take on their first use: once every pool thread has set its
    # own, the caller's count is put back as that default.
    threads = torch.get_num_threads()
    ready = threading.Barrier(workers + 1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix='dakpn-blur',
                              initializer=_one_kernel_thread,
                              initargs=(ready, ))
    started = [pool.submit(int) for _ in range(workers)]
    ready.wait()
    torch.set_num_threads(threads)
    for future in started:
        future.result()
    return pool
