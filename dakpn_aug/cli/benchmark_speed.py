"""Speed and memory of the DA-KPN translation: the README "Speed" table.

Usage:
    python tools/benchmark_speed.py --threads 2 --readme README.md \
        [--bundle BUNDLE --bundle-image IMAGE] [--profile]
    python tools/benchmark_speed.py --quick                  # smoke test

Cases (batch 1, float32 RGB in [0, 1], 96x160 parameters, noise on):
``translate`` with identity, "typical" (smooth maps, sigma in [0, 2]),
"full range" (sigma spread uniformly over [0, SIGMA_MAX]) and, with
``--bundle``, the parameters a trained bundle predicts for an image; a
batch of 8; the encoder + KPN + translation in float32 and under bfloat16
autocast (where the CPU has native bfloat16), with and without label
guidance; peak memory at the largest size; the authors' per-pixel 25x25
loop on their 90x160 patch; on CUDA the half-precision batched path in
images per second.

Times: ``torch.utils.benchmark.Timer`` (it synchronises CUDA), median and
interquartile range after a warm-up; comparisons of two cases (4K against
720x1280, a batch against single images) from paired rounds, because a
shared machine's speed drifts between cases timed minutes apart. Beside
each row: the share of the CPU other processes used and the VM's host
stole (psutil). Memory: a fresh process per case (side by side, after
the timed rows), its resident set sampled with psutil (CPU), or the CUDA
allocator's peak. Goals are printed
beside the measurements, never instead of them.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import platform
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from time import perf_counter as timer
from typing import Callable, Dict, List, Tuple

import psutil
import torch
import torch.nn.functional as F
from torch.utils import benchmark as tbench

from .. import functional as DF
from . import argument_parser, count_arg, size_arg

LOW_RES = (96, 160)  # the parameter maps' resolution (encoder input size)
NAIVE_CROP = (90, 160)  # the authors' patch size
REF, BIG = (720, 1280), (2160, 3840)
BATCH, GPU_BATCH = 8, 16
BUSY_WARN = 0.15  # flag rows timed while others used more of the CPU
WARM_UP_S = 8.0  # an idle VM runs its first seconds of work slower
#: Goals, each judged where its case runs (CPU at 720x1280 unless named).
GOAL_MS = {'translate: typical': 60.0, 'translate: full range': 75.0,
           'encoder + translate': 200.0,
           'encoder + translate, label guidance': 200.0}
GOAL_MEMORY_MB, GOAL_NAIVE_RATIO = 2048.0, 60.0  # one 4K image; x naive
GOAL_GPU_IMAGES_PER_S, GOAL_GPU_4K_FPS = 1000.0, 200.0
#: The CPU's bfloat16 encoder rows run only where a bfloat16 matmul is at
#: most this much slower than a float32 one: without native bfloat16 it is
#: emulated (51-70x on an AVX2 EPYC, measured), and each of those rows took
#: minutes (20 s a call at 720x1280 on a Zen 1 VM) to say nothing new.
BF16_MAX_SLOWDOWN = 4.0
README_START, README_END = ('<!-- speed-table:start -->',
                            '<!-- speed-table:end -->')


def size_str(size) -> str:
    return f'{size[0]}x{size[1]}'


def verdict(ok: bool) -> str:
    return 'met' if ok else 'NOT met'


def set_threads(threads: int) -> None:
    """torch's and OpenCV's thread counts (the translation runs kernels of
    both): the same, at least 1."""
    import cv2
    torch.set_num_threads(max(1, threads))
    cv2.setNumThreads(max(1, threads))


def machine(device: str) -> str:
    """The CPU as torch and psutil see it (its model name is the README's
    to give: no portable API has it), and the GPU's name."""
    text = (f'{platform.machine()} ({torch.backends.cpu.get_cpu_capability()}'
            f'), {psutil.cpu_count()} cores, torch {torch.__version__} '
            f'({torch.get_num_threads()} threads)')
    return text + (f', {torch.cuda.get_device_name(0)}'
                   if device == 'cuda' else '')


def machine_state() -> str:
    """What one 4 KiB page fault and a 1024x1024 matmul cost now, best of
    5: a VM's speed drifts with its host, and the translation faults in
    fresh memory, so the table says what the machine was like."""
    import mmap
    size, faults, matmul = 64 << 20, [], []
    a = torch.rand(1024, 1024)
    for _ in range(5):
        with mmap.mmap(-1, size) as buf:  # fresh pages: each write faults
            t0 = timer()
            buf[::mmap.PAGESIZE] = b'\1' * (size // mmap.PAGESIZE)
            faults.append((timer() - t0) / (size // mmap.PAGESIZE))
        t0 = timer()
        a @ a
        matmul.append(timer() - t0)
    return (f'page fault {1e6 * min(faults):.2f} us, 1024x1024 matmul '
            f'{1e3 * min(matmul):.1f} ms')


def bfloat16_slowdown() -> float:
    """A 256x256 bfloat16 matmul's time over float32's here, best of 3
    each."""
    best = []
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.rand(256, 256).to(dtype)
        best.append(min(tbench.Timer('a @ a', globals={'a': a}).timeit(3)
                        .median for _ in range(3)))
    return best[1] / best[0]


def encoder_dtypes(device: str, quick: bool) -> Tuple[Tuple[str, ...], str]:
    """The encoder rows' autocast variants ('' float32, ' (bfloat16)'),
    and why bfloat16 is left out where it is (a smoke test runs every
    case)."""
    both = ('', ' (bfloat16)'), ''
    if quick or device != 'cpu':
        return both
    slowdown = bfloat16_slowdown()
    if slowdown <= BF16_MAX_SLOWDOWN:
        return both
    return ('',), (f'encoder (bfloat16) rows not run: a bfloat16 matmul '
                   f'takes {slowdown:.0f}x the float32 time on this CPU '
                   '(no native bfloat16)')


# ---------------------------------------------------------------- inputs


def make_image(size, device: str, seed: int = 0) -> torch.Tensor:
    """Smooth colour regions plus fine texture."""
    g = torch.Generator().manual_seed(seed)
    img = F.interpolate(torch.rand(1, 3, 12, 20, generator=g), size=size,
                        mode='bicubic', align_corners=False)
    img = img + 0.08 * torch.randn(1, 3, *size, generator=g)
    return img.clamp_(0.0, 1.0).to(device)


def make_params(case: str, device: str, seed: int = 0) -> torch.Tensor:
    """(1, 12, 96, 160) parameters of a named case (module docstring)."""
    if case == 'identity':
        return DF.identity_params(1, LOW_RES, device=device)
    g = torch.Generator().manual_seed(seed)
    f = F.interpolate(torch.rand(1, 12, 6, 10, generator=g), size=LOW_RES,
                      mode='bicubic', align_corners=False)
    lo, hi = f.amin((2, 3), keepdim=True), f.amax((2, 3), keepdim=True)
    u = (f - lo) / (hi - lo).clamp_min(1e-8) * 2.0 - 1.0  # smooth, [-1, 1]
    p = torch.empty(1, 12, *LOW_RES)
    p[:, 0:3] = 1.0 + torch.tensor([0.02, 0.15, 0.15]).view(1, 3, 1, 1) * \
        u[:, 0:3] - torch.tensor([0.0, 0.05, 0.05]).view(1, 3, 1, 1)
    p[:, 3:6] = torch.tensor([0.01, 0.05, 0.05]).view(1, 3, 1, 1) * u[:, 3:6]
    sigma, noise = DF.PARAM_SLICES['sigma'], DF.PARAM_SLICES['noise']
    s01 = (u[:, sigma] + 1.0) / 2.0
    if case == 'typical':
        p[:, sigma] = 2.0 * s01
    elif case == 'full range':  # each channel's ranks: a uniform histogram
        flat = s01.reshape(3, -1)
        ranks = flat.argsort(1).argsort(1).float() / (flat.shape[1] - 1)
        p[:, sigma] = DF.SIGMA_MAX * ranks.view_as(s01)
    else:
        raise ValueError(f'unknown parameter case {case!r}')
    p[:, noise] = 0.05 + 0.02 * u[:, noise]
    return p.to(device)


def bundle_params(bundle: Path, image: Path, device: str) -> torch.Tensor:
    """The parameters the trained ``bundle`` predicts for ``image``."""
    import cv2
    from dakpn_aug import DAKPNTranslator
    from dakpn_aug.image import image_to_tensor
    bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f'--bundle-image {image}: not an image file')
    tr = DAKPNTranslator.from_checkpoint(bundle, device=device)
    with torch.inference_mode():
        return tr.predict_params(image_to_tensor(
            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))[0].to(device))


def build_translator(encoder: str, device: str, seed: int = 0):
    """A translator whose KPN predicts typical parameters: random encoder
    weights, the KPN's output conv rescaled per channel on a probe image
    so that every map varies around the typical values."""
    from dakpn_aug import DAKPNTranslator
    torch.manual_seed(seed)
    tr = DAKPNTranslator.build(encoder=encoder, device=device)
    mean = torch.tensor([0, -.1, -.05, 0, 0, .02, 1, 1, 1, .05, .05, .05])
    std = torch.tensor([.01, .05, .05, .005, .02, .02, .5, .5, .5,
                        .01, .01, .01])
    conv = tr.kpn.conv
    with torch.no_grad():
        conv.weight.normal_()
        conv.bias.zero_()
        raw = tr.kpn.raw(tr.encoder(make_image(REF, device, seed + 1)))
        scale = std / raw.std(dim=(0, 2, 3)).cpu().clamp_min(1e-6)
        conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight))
        conv.bias.copy_((mean - raw.mean(dim=(0, 2, 3)).cpu() * scale)
                        .to(conv.bias))
    return tr


def guidance_labels(tr, img: torch.Tensor) -> torch.Tensor:
    """(1, H, W) uint8 labels (as read from a PNG): the encoder's classes
    upsampled, with 2-pixel vertical stripes of another class every 40
    columns (thin objects the encoder misses, ~5% of the pixels)."""
    with torch.inference_mode():
        pred = tr.encoder(img).argmax(1, keepdim=True).float()
    labels = F.interpolate(pred, size=img.shape[-2:],
                           mode='nearest-exact')[:, 0].to(torch.uint8)
    labels[..., ::40] = (labels[..., ::40] + 1) % tr.kpn.num_classes
    labels[..., 1::40] = labels[..., ::40]
    return labels


def translate_case(case: str, size, device: str, batch: int = 1,
                   params=None) -> Callable:
    """translate() of a batch of ``size`` images with ``case``'s
    parameters (``params`` instead where given)."""
    img = make_image(size, device).expand(batch, -1, -1, -1).contiguous()
    params = (make_params(case, device) if params is None else params
              ).expand(batch, -1, -1, -1)
    noise = DF.make_noise((batch, 3, *size), seed=0, device=device)
    return lambda: DF.translate(img, params, noise=noise)


# ---------------------------------------------------------------- timing


class OtherLoad:
    """The shares of the CPU that other processes used (``share``) and
    that a VM's host stole (``steal``) while the block ran: psutil's
    system-wide percentages since the block began, less this process's
    own share."""

    def __enter__(self):
        self.proc = psutil.Process()
        psutil.cpu_times_percent(None)  # both count from here
        self.proc.cpu_percent(None)
        return self

    def __exit__(self, *exc):
        t = psutil.cpu_times_percent(None)._asdict()
        mine = self.proc.cpu_percent(None) / psutil.cpu_count()
        self.steal = t.get('steal', 0.0) / 100.0
        self.share = max(0.0, 100.0 - t['idle'] - t.get('iowait', 0.0) -
                         t.get('steal', 0.0) - mine) / 100.0


def busy(row: Dict) -> float:
    """The share of the CPU that was not this benchmark's to use."""
    return row['other_cpu'] + row['host_steal']


def _timer(fn: Callable) -> tbench.Timer:
    return tbench.Timer(stmt='fn()', globals={'fn': fn},
                        num_threads=torch.get_num_threads())


def timed(fn: Callable, repeats: int, retries: int = 0, batch: int = 1
          ) -> Dict:
    """Median and IQR (ms per image) of ``repeats`` runs after a warm-up,
    re-timed up to ``retries`` times while other processes and the host
    took more than BUSY_WARN of the CPU (the least busy try is kept)."""
    best, t = None, _timer(fn)
    for _ in range(retries + 1):
        with torch.inference_mode():
            fn()
            with OtherLoad() as load:
                m = tbench.Measurement.merge(
                    [t.timeit(1) for _ in range(repeats)])[0]
        row = dict(median_ms=1e3 * m.median / batch,
                   iqr_ms=1e3 * m.iqr / batch, other_cpu=load.share,
                   host_steal=load.steal)
        if best is None or busy(row) < busy(best):
            best = row
        if busy(row) <= BUSY_WARN:
            break
    return best


def paired_ratio(small: Callable, large: Callable, rounds: int
                 ) -> Tuple[float, float]:
    """Median and IQR over ``rounds`` of ``time(large) / time(small)``,
    both timed back to back in each round (a warm-up call, then the median
    of 3): the first call after the other case pays for the allocator's
    and the cache's state it left (up to 1.5x at 720x1280, measured),
    which a steady stream of one case does not."""
    def steady(t: tbench.Timer) -> float:
        t.timeit(1)
        return tbench.Measurement.merge([t.timeit(1) for _ in range(3)]
                                        )[0].median

    timers = [_timer(small), _timer(large)]
    with torch.inference_mode():
        ratios = torch.tensor([steady(timers[1]) / steady(timers[0])
                               for _ in range(rounds)])
    q1, q2, q3 = torch.quantile(ratios, torch.tensor([0.25, 0.5, 0.75]))
    return float(q2), float(q3 - q1)


# ---------------------------------------------------------------- memory


def memory_case(case: str, size, encoder: str, device: str) -> Callable:
    if case == 'encoder + translate':
        tr, img = build_translator(encoder, device), make_image(size, device)
        return lambda: tr.translate_batch(img)
    return translate_case(case.split(': ')[1], size, device)


def peak_memory_child(case: str, size, encoder: str, threads: int
                      ) -> float:
    """In a fresh process: the peak rise of the resident set (MB) over
    two calls, sampled by psutil every 0.5 ms (and getrusage's lifetime
    peak where the calls raised it: a peak between two samples)."""
    import resource
    set_threads(threads)
    fn = memory_case(case, size, encoder, 'cpu')
    proc, done = psutil.Process(), threading.Event()
    base = peak = proc.memory_info().rss
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB

    def sample():
        nonlocal peak
        while not done.wait(0.0005):
            peak = max(peak, proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with torch.inference_mode():
        for _ in range(2):
            fn()
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (max(peak, after * 1024 if after > maxrss else 0) - base) / 2**20


def peak_memory(cases, size, args, device: str) -> List[float]:
    """Peak memory (MB) of one call of each case: on the CPU each in a
    fresh (spawned) process of its own, side by side (earlier cases'
    allocator state would hide it); on CUDA the allocator's peak."""
    if device == 'cpu':
        with ProcessPoolExecutor(
                len(cases), mp_context=multiprocessing.get_context('spawn'),
                max_tasks_per_child=1) as pool:
            return list(pool.map(partial(
                peak_memory_child, size=size, encoder=args.encoder,
                threads=args.threads), cases))
    peaks = []
    for case in cases:
        fn = memory_case(case, size, args.encoder, device)
        with torch.inference_mode():
            fn()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
        peaks.append((torch.cuda.max_memory_allocated() - base) / 2**20)
    return peaks


# ------------------------------------------------------- naive baseline


def naive_local_blur(img, sigma, kernel_size: int = DF.KERNEL_SIZE):
    """The authors' way: every pixel its own 25x25 Gaussian, normalised to
    sum 1, applied to ``F.unfold`` patches of the replicate-padded image."""
    b, c, h, w = img.shape
    r, kk = kernel_size // 2, kernel_size * kernel_size
    patches = F.unfold(F.pad(img, (r,) * 4, mode='replicate'),
                       kernel_size).view(b, c, kk, h * w)
    ax = torch.arange(-r, r + 1, device=img.device, dtype=img.dtype)
    d2 = (ax.view(-1, 1) ** 2 + ax.view(1, -1) ** 2).reshape(1, 1, kk, 1)
    s = sigma.expand(b, c, h, w).clamp(1e-6, DF.SIGMA_MAX).reshape(
        b, c, 1, h * w)
    kernels = torch.exp(-d2 / (2.0 * s * s))
    kernels = kernels / kernels.sum(dim=2, keepdim=True)
    return (patches * kernels).sum(dim=2).view(b, c, h, w)


def naive_case(device: str) -> Callable:
    """The naive translation of the authors' patch at the centre of a
    720x1280 image, after checking its blur against the exact mode."""
    (ch, cw), top, left = NAIVE_CROP, (REF[0] - 90) // 2, (REF[1] - 160) // 2
    img = make_image(REF, device)[..., top:top + ch, left:left + cw]
    w, b, sigma, n = DF.split_params(DF.upsample_params(
        make_params('typical', device), REF, crop=(top, left, ch, cw)))
    diff = float((naive_local_blur(img, sigma) - DF.local_gaussian_blur(
        img, sigma, mode='exact')).abs().max())
    assert diff < 1e-4, f'naive blur != exact mode: {diff:.3g}'
    noise = DF.make_noise((1, 3, ch, cw), seed=0, device=device)
    return lambda: (naive_local_blur(DF.color_affine(img, w, b), sigma) +
                    n * noise).clamp(0.0, 1.0)


# ------------------------------------------------------------ GPU rows


def half_precision_error(tr, dtype: torch.dtype, size, device: str
                         ) -> str:
    """How far a ``dtype`` translation (typical parameters) is from the
    float32 one of the same ``dtype``-rounded image and noise on the same
    device: mean and max absolute difference on the [0, 1] scale (one
    8-bit step is 0.0039)."""
    img = make_image(size, device).to(dtype)
    params = make_params('typical', device)
    noise = DF.make_noise((1, 3, *size), seed=0, device=device).to(dtype)
    ref = tr.translate_batch(img.float(), noise=noise.float(), params=params)
    out = tr.translate_batch(img, noise=noise, params=params)
    diff = (out.float() - ref).abs()
    return f'mean {float(diff.mean()):.1e}, max {float(diff.max()):.1e}'


def throughput_rows(device: str, dtype: torch.dtype, encoder: str,
                    batch: int, repeats: int, sizes=(REF, BIG)) -> List[Dict]:
    """Images per second of ``translate_batch`` on ``dtype`` batches (one
    call per batch, fresh noise drawn on the device): translation only at
    the first size, encoder + translation at every size (a quarter of the
    batch beyond the first). The GPU goals are judged on CUDA; the same
    code runs anywhere (tested on the CPU)."""
    tr = build_translator(encoder, device)
    tr.noise = 'fresh'
    gen = torch.Generator(device=device).manual_seed(0)
    rows = []
    error = half_precision_error(tr, dtype, sizes[0], device)
    for i, size in enumerate(sizes):
        b = batch if i == 0 else max(1, batch // 4)
        img = make_image(size, device).to(dtype).expand(b, -1, -1,
                                                        -1).contiguous()
        cases = [('encoder + translate', None)]
        if i == 0:
            cases.insert(0, ('translate', make_params('typical', device)
                             .expand(b, -1, -1, -1)))
        for name, params in cases:
            t = timed(lambda: tr.translate_batch(img, generator=gen,
                                                 params=params),
                      repeats, batch=b)
            ips = 1e3 / t['median_ms']
            goal = None
            if device == 'cuda':
                goal = GOAL_GPU_IMAGES_PER_S if name == 'translate' else \
                    GOAL_GPU_4K_FPS if tuple(size) == BIG else None
            rows.append(dict(
                t, device=device, size=size_str(size), images_per_s=ips,
                case=f'{name}, {str(dtype)[6:]}, batch {b}, per image',
                vs_float32=error,
                goal_time='' if goal is None else
                f'>= {goal:.0f}/s: {verdict(ips >= goal)} ({ips:.0f})'))
    return rows


# ------------------------------------------------------------ the run


def benchmark(device: str, args) -> Tuple[List[Dict], List[str]]:
    rows, notes, ms = [], [], {}

    def add(case: str, size, fn: Callable, goal: str = '',
            batch: int = 1) -> None:
        t = timed(fn, args.repeats if batch == 1 else
                  max(3, args.repeats // 2), args.retries, batch)
        limit = GOAL_MS.get(case)
        if not goal and limit and device == 'cpu' and tuple(size) == REF:
            goal = f'<= {limit:.0f} ms: {verdict(t["median_ms"] <= limit)}'
        rows.append(dict(t, device=device, case=case, size=size_str(size),
                         goal_time=goal))
        ms[case, tuple(size)] = t['median_ms']
        print(f'{device} {case} {size_str(size)}: {t["median_ms"]:.1f} ms '
              f'(others {100 * t["other_cpu"]:.0f}%, host steal '
              f'{100 * t["host_steal"]:.0f}% CPU)', flush=True)

    custom = {} if args.bundle is None else {'trained bundle': bundle_params(
        args.bundle, args.bundle_image, device)}
    cases = ('identity', 'typical', 'full range', *custom)

    def case_fn(case, size, batch=1):
        return translate_case(case, size, device, batch, custom.get(case))

    # An idle VM runs its first seconds slower (measured: 720x1280 typical
    # at 58-60 ms for ~4 s, then 40-55): translate for a while first.
    warm, start = case_fn('typical', args.sizes[0]), timer()
    with torch.inference_mode():
        while timer() - start < (0.0 if args.quick else WARM_UP_S):
            warm()
    for size in args.sizes:
        for case in cases:
            add(f'translate: {case}', size, case_fn(case, size))
    first, last = args.sizes[0], args.sizes[-1]
    ratio, spread = paired_ratio(case_fn('typical', first),
                                 case_fn('typical', first, BATCH),
                                 args.repeats)
    add(f'translate: typical, batch {BATCH}, per image', first,
        case_fn('typical', first, BATCH),
        f'<= batch 1: {verdict(ratio <= BATCH)} ({ratio / BATCH:.2f}x per '
        f'image in paired rounds, IQR {spread / BATCH:.2f})', BATCH)
    pixels = last[0] * last[1] / (first[0] * first[1])
    for case in cases[1:] if pixels > 1 else ():
        ratio, spread = paired_ratio(case_fn(case, first),
                                     case_fn(case, last), args.repeats)
        notes.append(f'{size_str(last)} / {size_str(first)} = {ratio:.1f}x '
                     f'the time for {pixels:.1f}x the pixels ({case}; median '
                     f'of {args.repeats} rounds of both sizes, IQR '
                     f'{spread:.1f}; goal <= {pixels:.1f}x: '
                     f'{verdict(ratio <= pixels)})')

    encoders, why_not = encoder_dtypes(device, args.quick)
    notes += [why_not] if why_not else []
    tr = build_translator(args.encoder, device)
    for size in args.sizes:
        img = make_image(size, device)
        for enc in encoders:
            tr.encoder_dtype = enc.strip(' ()') or None
            add(f'encoder{enc} + translate', size,
                lambda: tr.translate_batch(img))
            if not enc:  # what every front door with labels does
                labels = guidance_labels(tr, img)
                add('encoder + translate, label guidance', size,
                    lambda: tr.translate_batch(img, labels=labels))
            add(f'encoder{enc} + KPN only', size,
                lambda: tr.predict_params(img))
        tr.encoder_dtype = None

    if device == 'cuda':
        for dtype in (torch.float16, torch.bfloat16):
            rows += throughput_rows(device, dtype, args.encoder, GPU_BATCH,
                                    args.repeats)

    cases = ('translate: identity', 'translate: typical',
             'translate: full range', 'encoder + translate')
    # No timing is taken meanwhile.
    for case, mb in zip(cases, peak_memory(cases, last, args, device)):
        row = next(r for r in rows
                   if r['case'] == case and r['size'] == size_str(last))
        row['peak_memory_mb'] = mb
        if tuple(last) == BIG:
            row['goal_memory'] = f'<= 2 GB: {verdict(mb <= GOAL_MEMORY_MB)}'

    add(f'naive per-pixel kernels ({size_str(NAIVE_CROP)} crop)',
        NAIVE_CROP, naive_case(device))
    for size in args.sizes:
        factor = size[0] * size[1] / (NAIVE_CROP[0] * NAIVE_CROP[1])
        naive = ms[rows[-1]['case'], NAIVE_CROP] * factor
        ratio = naive / ms['translate: typical', size]
        notes.append(f'naive per-pixel kernels at {size_str(size)}: '
                     f'{naive:.0f} ms (the crop x {factor:.0f}), {ratio:.0f}x'
                     ' ours (typical)' + (
                         f'; goal >= {GOAL_NAIVE_RATIO:.0f}x: '
                         f'{verdict(ratio >= GOAL_NAIVE_RATIO)}'
                         if tuple(size) == REF and device == 'cpu' else ''))
    return rows, notes


def markdown(rows: List[Dict], notes: List[str], header: str) -> str:
    lines = [header, '', '| device | case | size | median ms | IQR ms | '
             'peak memory MB | goal | other procs / host steal CPU % |',
             '|---|---|---|---:|---:|---:|---|---:|']
    for r in rows:
        error = r.get('vs_float32')
        goal = '; '.join(g for g in (
            r.get('goal_time'), r.get('goal_memory'),
            error and f'output vs float32: {error}') if g)
        mem = r.get('peak_memory_mb')
        lines.append(
            f'| {r["device"]} | {r["case"]} | {r["size"]} | '
            f'{r["median_ms"]:.1f} | {r["iqr_ms"]:.1f} | '
            f'{"" if mem is None else f"{mem:.0f}"} | {goal} | '
            f'{100 * r["other_cpu"]:.0f} / {100 * r["host_steal"]:.0f}'
            f'{" (!)" if busy(r) > BUSY_WARN else ""} |')
    return '\n'.join(lines + [''] + [f'- {n}' for n in notes]) + '\n'


def update_readme(path: Path, table: str) -> None:
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f'{path}: no {README_START} ... {README_END} block '
                         'to replace')
    head, rest = text.split(README_START, 1)
    path.write_text(head + README_START + '\n' + table +
                    rest[rest.index(README_END):])


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('--sizes', default=[REF, BIG],
                    type=lambda text: [size_arg(s) for s in text.split(',')],
                    help='comma-separated HxW sizes, the goal size first '
                    f'(default {size_str(REF)},{size_str(BIG)})')
    ap.add_argument('--repeats', type=count_arg(1), default=None,
                    help='timed runs per case (10 on the CPU, 30 on CUDA)')
    ap.add_argument('--retries', type=count_arg(0), default=2,
                    help='re-time a case this often while other processes '
                    'use > 15%% of the CPU')
    ap.add_argument('--device', choices=('cpu', 'cuda', 'all'), default='all')
    ap.add_argument('--quick', action='store_true',
                    help='smoke test: 180x320 and 360x640, 3 repeats')
    ap.add_argument('--encoder', default='fcn_r50-d8')
    ap.add_argument('--bundle', type=Path, default=None,
                    help='also time translate() with the parameters this '
                    'trained bundle predicts for --bundle-image')
    ap.add_argument('--bundle-image', type=Path, default=None)
    ap.add_argument('--threads', type=count_arg(1), default=os.cpu_count())
    ap.add_argument('--profile', action='store_true',
                    help='also print torch.profiler\'s table of translate')
    ap.add_argument('--out', type=Path, default=Path('work_dirs/benchmark'))
    ap.add_argument('--readme', type=Path, default=None,
                    help='write the table into this README between '
                    f'{README_START} and {README_END}')
    args = ap.parse_args(argv)
    if (args.bundle is None) != (args.bundle_image is None):
        ap.error('--bundle and --bundle-image go together')
    set_threads(args.threads)
    if args.quick:
        args.sizes = [(180, 320), (360, 640)]
    args.repeats = args.repeats or (3 if args.quick else 10)
    if args.device == 'cuda' and not torch.cuda.is_available():
        ap.error('--device cuda: CUDA is not available')
    devices = [d for d in ('cpu', 'cuda') if args.device in (d, 'all') and
               (d == 'cpu' or torch.cuda.is_available())]
    rows, notes, header = [], [], []
    for device in devices:
        args.repeats = max(args.repeats, 30 if device == 'cuda' else 0)
        state = machine_state() if device == 'cpu' else ''
        r, n = benchmark(device, args)
        header.append(f'- {device}: {machine(device)}' + (
            f'; this machine at the start: {state}; at the end: '
            f'{machine_state()}' if state else ''))
        rows, notes = rows + r, notes + [f'{device}: {x}' for x in n]
    table = markdown(rows, notes, '\n'.join(header))
    print('\n' + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'speed.md').write_text(table)
    (args.out / 'speed.json').write_text(json.dumps(
        dict(machine=header, rows=rows, notes=notes), indent=2) + '\n')
    if args.readme:
        update_readme(args.readme, table)
    if args.profile:
        from torch.profiler import profile
        fn = translate_case('typical', args.sizes[0], devices[-1])
        with torch.inference_mode(), profile() as prof:
            for _ in range(3):
                fn()
        print(prof.key_averages().table(sort_by='self_cpu_time_total',
                                        row_limit=20))
    return 0


if __name__ == '__main__':
    sys.exit(main())
