"""The CPU path's kept memory and tile threads (dakpn_aug.cpu_exec), seen
through the translation that uses them."""
import os

import pytest
import torch

from dakpn_aug import cpu_exec
from dakpn_aug import functional as DF
from conftest import scene_image
from test_functional import random_params


def test_kept_buffers_never_leave_a_call():
    """The CPU path keeps its image-sized temporaries per thread
    (``cpu_exec.scratch``): a later call, of another size or under another
    autograd mode, leaves an earlier result untouched, and the results
    equal the torch (autograd) path's."""
    cpu_exec._SCRATCH.__dict__.pop('buffers', None)
    img = scene_image(40, 52, seed=11).contiguous()  # NCHW: a copy is kept
    params = random_params(1, 6, 7, sigma_max=2.0, seed=12)
    noise = DF.make_noise((1, 3, 40, 52), seed=13)
    with torch.inference_mode():
        first = DF.translate(img, params, noise=noise)
    kept = cpu_exec._SCRATCH.buffers
    assert {'image', 'w', 'b', 'sigma', 'n', 'ycbcr', 'rgb'} <= set(kept)
    ptrs = {slot: t.data_ptr() for slot, t in kept.items()}
    assert first.data_ptr() not in ptrs.values()
    copy = first.clone()
    with torch.no_grad():  # buffers made under inference mode, written here
        again = DF.translate(img, params, noise=noise)
        assert {slot: t.data_ptr() for slot, t in kept.items()} == ptrs
        other = DF.translate(img[..., :30, :33].contiguous(), params * 0.5,
                             noise=noise[..., :30, :33].contiguous())
    assert torch.equal(first, copy) and torch.equal(again, first)
    # A smaller image takes the front of the same buffers.
    assert other.shape[-2:] == (30, 33)
    assert {slot: t.data_ptr() for slot, t in kept.items()} == ptrs
    ref = DF.translate(img, params.clone().requires_grad_(), noise=noise)
    assert float((ref - first).abs().max()) < 2e-5


def test_tile_pool_threads_run_kernels_on_one_thread():
    """The tile pool's threads run torch's kernels on one thread each (the
    pool already shares the cores between tiles); the caller's thread
    count, and the count a thread takes on its first use, stay as they
    were (torch.set_num_threads also sets that default)."""
    import threading

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cpu_exec._POOL.clear()  # a fresh pool, made by this test
        pool = cpu_exec.band_pool(2)
        counts = [pool.submit(torch.get_num_threads) for _ in range(4)]
        assert [f.result() for f in counts] == [1] * 4
        assert torch.get_num_threads() == 2
        seen = []
        thread = threading.Thread(
            target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert seen == [2]
    finally:
        torch.set_num_threads(threads)


def test_large_outputs_reuse_memory_only_once_the_caller_frees_it():
    """An output above glibc's largest mmap threshold is made in the memory
    of an earlier one of the same size, but only after its caller dropped
    every reference to it (a view is a reference), and it is overwritten
    in full."""
    cpu_exec._RECYCLED.clear()
    img = scene_image(1100, 1999, seed=6).expand(2, -1, -1, -1).contiguous()
    assert img.numel() * 4 > DF._WHOLE_IMAGE_MAX_BYTES
    params = random_params(1, 12, 20, sigma_max=2.0, seed=7)
    noise = DF.make_noise((2, 3, 1100, 1999), seed=8)

    def translate():
        with torch.inference_mode():
            return DF.translate(img, params, noise=noise)

    first = translate()
    ptr, ref = first.data_ptr(), first.clone()
    second = translate()  # the first is still held
    assert second.data_ptr() != ptr and torch.equal(second, ref)
    del first
    third = translate()  # in the first's memory, every pixel rewritten
    assert third.data_ptr() == ptr and torch.equal(third, ref)
    row = third[1, :, 5]
    del third
    fourth = translate()  # the row still holds the third's memory
    assert fourth.data_ptr() != ptr and torch.equal(row, ref[1, :, 5])
    del row, second, fourth
    assert sum(buf.nbytes for buf in cpu_exec._RECYCLED) <= \
        cpu_exec._RECYCLED_MAX_BYTES


def test_forked_child_forgets_the_parents_pool():
    """A forked child (a dataloader worker) starts without the parent's
    pool, whose threads it does not have, and with a free lock even when
    the parent held it at the fork."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert cpu_exec.band_pool(2) is not None
        with cpu_exec._POOL_LOCK:
            pid = os.fork()
            if pid == 0:  # the child: exit code 0 only if all holds
                ok = not cpu_exec._POOL and \
                    cpu_exec._POOL_LOCK.acquire(timeout=5)
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert cpu_exec._POOL  # the parent keeps its pool
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize('height,width,tile,count', [
    (720, 1280, (128, 1280), 6), (45, 50, (20, 13), 12),
    (2160, 3840, (256, 640), 54), (3, 50, (1, 13), 12), (1, 7, (4, 4), 2),
    (40, 52, (128, 1280), 1)])
def test_tiles_are_equal_and_cover_the_image_once(height, width, tile,
                                                  count):
    """Tiles of at most the asked size and of equal size (to a pixel: 720
    rows in 6 bands of 120, not 5 of 128 and one of 80), covering every
    pixel exactly once."""
    boxes = cpu_exec.tiles(height, width, tile)
    assert len(boxes) == count
    heights = {b - t for t, b, _, _ in boxes}
    widths = {r - l for _, _, l, r in boxes}
    assert max(heights) <= tile[0] and max(widths) <= tile[1]
    assert max(heights) - min(heights) <= 1
    assert max(widths) - min(widths) <= 1
    cover = torch.zeros(height, width, dtype=torch.int32)
    for t, b, l, r in boxes:
        cover[t:b, l:r] += 1
    assert bool((cover == 1).all())
