#!/usr/bin/env python
"""Speed and memory benchmark of the DA-KPN translation (CPU, and CUDA if
available), with the authors' naive per-pixel-kernel blur as a baseline.

Usage:
    python tools/benchmark_speed.py                      # full run (minutes)
    python tools/benchmark_speed.py --quick              # smoke test
    python tools/benchmark_speed.py --device cpu --repeats 20 --threads 2 \\
        --sizes 720x1280,2160x3840 --encoder fcn_r50-d8 --out work_dirs/benchmark
    python tools/benchmark_speed.py --profile            # + torch.profiler
                                                         #   breakdown of translate

What is measured (batch 1, RGB float32 images in [0, 1]):

1. ``functional.translate`` alone (low-res 96x160 parameters given, noise
   on) for three parameter settings:

   - ``identity``: w = 1, b = 0, sigma = 0, n = 0;
   - ``typical``: smooth random maps, sigma spanning [0, 2], small HSV
     affine changes, noise scale ~0.05;
   - ``full range``: as typical, but sigma spread uniformly over
     [0, SIGMA_MAX].

   At 720x1280 also a batch of 8 (per image), and the 4K / 720x1280 time
   ratio (linear in pixels: <= 9x).

2. ``DAKPNTranslator.translate_batch`` (semantic encoder + KPN +
   translation) with the KPN set to predict "typical" parameters (random
   encoder weights; KPN weights scaled so that the predicted maps vary like
   the typical case). ``predict_params`` alone is timed too, for reference.
   On CUDA also the batched path in float16 and bfloat16 (batch 16 at
   720x1280, 4 at 4K; fresh noise drawn on the device): images per second.

3. Peak memory for one image at the memory size (default: 2160x3840): on
   the CPU the peak resident-set increase of the process during the call,
   each case in a fresh subprocess (the kernel's VmHWM reset just before the
   call, cross-checked with RSS sampled in a thread and ``getrusage``); on
   CUDA ``torch.cuda.max_memory_allocated`` above what was allocated before
   the call.

4. The naive baseline (implemented here, not in the package): for every
   pixel its own 25x25 Gaussian kernel built from its sigma and normalised
   to sum 1, applied to ``F.unfold`` patches of the replicate-padded image.
   It is timed on the authors' 90x160 patch (a 720x1280 image is 8x8 = 64 of
   them) as a whole translation (HSV affine + naive blur + noise) and
   scaled linearly by pixel count. The script asserts that the naive blur
   agrees with ``local_gaussian_blur(mode='exact')`` on that crop.

Times are the median and minimum over ``--repeats`` runs after warm-up
runs. CPU timings are very sensitive to other processes (with 2 threads on
2 cores, one busy core can slow a case down several times), so the share
of the CPU that other processes used while each case ran is measured
(/proc/stat minus this process's CPU time) and shown in the table; before
each case the script waits up to ``--quiet-wait`` s for an idle CPU and
re-times it up to ``--retries`` times when the load was above 15%.
The goals are printed next to the measurements, never in place of them. Results go to stdout and to ``<out>/speed.json`` and ``<out>/speed.md``.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .. import functional as DF
from . import subcommand

#: The parameter groups by name (one place: functional.PARAM_SLICES).
SIGMA, NOISE = DF.PARAM_SLICES['sigma'], DF.PARAM_SLICES['noise']

# Import-time noise of mmcv-lite / mmengine / mmseg; not about the benchmark.
for _msg in (r'Fail to import ``MultiScaleDeformableAttention',
             r'pkg_resources is deprecated', r'``build_loss`` would be',
             r'Default ``avg_non_ignore``'):
    warnings.filterwarnings('ignore', message=_msg)

LOW_RES = (96, 160)  # the parameter maps' resolution (encoder input size)
NAIVE_CROP = (90, 160)  # the authors' patch size
MIB = float(1 << 20)

#: Goals (shown next to the measurements, never instead of them).
GOAL_TRANSLATE_MS = {'typical': 60.0, 'full range': 75.0}  # 720x1280 CPU
GOAL_ENCODER_MS = 200.0  # encoder + translation, 720x1280, CPU median
GOAL_MEMORY_MB = 2048.0  # one 4K image, CPU peak
GOAL_TIME_SIZE = (720, 1280)
GOAL_MEMORY_SIZE = SCALE_SIZE = (2160, 3840)
GOAL_NAIVE_RATIO = 60.0  # ours vs the per-pixel loop, same run
BATCH = 8  # per image, a batch of 8 at 720x1280 no slower than batch 1
#: GPU goals (one H100-class card): translation at 720x1280 in half
#: precision, images per second; 4K frames with the encoder, per second.
GOAL_GPU_IMAGES_PER_S = 1000.0
GOAL_GPU_4K_FPS = 200.0
GPU_BATCH = 16

#: Warn when other processes keep more than this fraction of the CPU busy.
BUSY_WARN = 0.15

TRANSLATE_CASES = ('identity', 'typical', 'full range')
MEMORY_CASES = ('translate:identity', 'translate:typical',
                'translate:full range', 'encoder+translate')


# ------------------------------------------------------------- utilities


def parse_size(text: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'sizes are HxW, e.g. 720x1280; got {text!r}') from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f'size must be positive: {text!r}')
    return h, w


def size_str(size: Tuple[int, int]) -> str:
    return f'{size[0]}x{size[1]}'


def cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.lower().startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


def machine_info(devices: List[str], threads: int) -> Dict:
    info = dict(
        cpu=cpu_model(),
        cpu_cores=os.cpu_count(),
        torch_threads=threads,
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
    )
    try:
        info['cpu_capability'] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - informational only
        pass
    if 'cuda' in devices:
        info['gpu'] = torch.cuda.get_device_name(0)
        info['cuda'] = torch.version.cuda
    return info


def cpu_busy(interval: float = 1.0) -> Optional[float]:
    """Fraction of all CPUs busy over ``interval`` s (from /proc/stat),
    measured while this script is idle: other load skews the timings."""
    def read():
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = read()
        time.sleep(interval)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


class OtherLoad:
    """Share of the machine's CPU time used by *other* processes between
    ``start()`` and ``stop()``: all busy time in /proc/stat minus this
    process's own CPU time, over wall time x cores."""

    def __init__(self):
        self.t0 = self.busy0 = self.own0 = None

    @staticmethod
    def _busy_seconds() -> Optional[float]:
        try:
            with open('/proc/stat') as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return (sum(v) - idle) / os.sysconf('SC_CLK_TCK')

    def start(self) -> 'OtherLoad':
        self.t0 = time.perf_counter()
        self.busy0 = self._busy_seconds()
        self.own0 = time.process_time()
        return self

    def stop(self) -> Optional[float]:
        busy1 = self._busy_seconds()
        if busy1 is None or self.busy0 is None:
            return None
        wall = time.perf_counter() - self.t0
        own = time.process_time() - self.own0
        other = (busy1 - self.busy0) - own
        return max(0.0, other / max(1e-9, wall * (os.cpu_count() or 1)))


def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str, repeats: int,
              warmup: int) -> Dict:
    """Median and min wall time (ms) of ``fn`` over ``repeats`` runs."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        sync(device)
        gc.collect()
        times = []
        load = OtherLoad().start()
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times.append((time.perf_counter() - t0) * 1e3)
    return dict(median_ms=statistics.median(times), min_ms=min(times),
                times_ms=[round(t, 3) for t in times],
                other_cpu=load.stop())


def wait_for_quiet(timeout: float) -> Optional[float]:
    """Wait (up to ``timeout`` s) until other processes leave the CPU idle;
    returns the last measured busy fraction."""
    deadline = time.monotonic() + timeout
    while True:
        busy = cpu_busy(0.5)
        if busy is None or busy <= BUSY_WARN / 3 or \
                time.monotonic() >= deadline:
            return busy
        time.sleep(1.0)


def time_quiet(fn: Callable[[], object], device: str, repeats: int,
               warmup: int, retries: int, quiet_wait: float = 0.0) -> Dict:
    """:func:`time_call`, re-run (up to ``retries`` times) while other
    processes used > BUSY_WARN of the CPU; before each attempt, waits up to
    ``quiet_wait`` s for an idle CPU. Keeps the run with the least outside
    load; ``attempts`` says how many runs were made."""
    best = None
    attempt = 0
    for attempt in range(retries + 1):
        if quiet_wait > 0:
            wait_for_quiet(quiet_wait)
        t = time_call(fn, device, repeats, warmup)
        if best is None or (t['other_cpu'] or 0) < (best['other_cpu'] or 0):
            best = t
        if t['other_cpu'] is None or t['other_cpu'] <= BUSY_WARN:
            break
    best['attempts'] = attempt + 1
    return best


# ----------------------------------------------------------------- inputs


def make_image(size: Tuple[int, int], device: str, seed: int = 0):
    """A plausible test image: smooth colour regions plus fine texture."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 12, 20, generator=g)
    img = F.interpolate(coarse, size=size, mode='bicubic', align_corners=False)
    img = img + 0.08 * torch.randn(1, 3, *size, generator=g)
    return img.clamp_(0.0, 1.0).to(device)


def smooth_field(channels: int, g: torch.Generator,
                 size: Tuple[int, int] = LOW_RES) -> torch.Tensor:
    """(1, C, h, w) smooth random maps, each min-max scaled to [0, 1]."""
    coarse = torch.rand(1, channels, 6, 10, generator=g)
    f = F.interpolate(coarse, size=size, mode='bicubic', align_corners=False)
    lo = f.amin(dim=(2, 3), keepdim=True)
    hi = f.amax(dim=(2, 3), keepdim=True)
    return (f - lo) / (hi - lo).clamp_min(1e-8)


def rank_uniform(f: torch.Tensor) -> torch.Tensor:
    """Map each channel's values to their rank in [0, 1]: a uniform
    histogram with the field's smooth spatial layout."""
    b, c, h, w = f.shape
    flat = f.reshape(b * c, h * w)
    ranks = flat.argsort(dim=1).argsort(dim=1).to(f.dtype)
    return (ranks / (h * w - 1)).reshape(b, c, h, w)


def make_params(case: str, device: str, seed: int = 0) -> torch.Tensor:
    """(1, 12, 96, 160) low-res parameters for a named case."""
    if case == 'identity':
        return DF.identity_params(1, LOW_RES, device=device)
    if case not in ('typical', 'full range'):
        raise ValueError(f'unknown parameter case {case!r}')
    g = torch.Generator().manual_seed(seed)
    u = smooth_field(12, g) * 2.0 - 1.0  # smooth maps in [-1, 1]
    p = torch.empty(1, 12, *LOW_RES)
    p[:, 0] = 1.0 + 0.02 * u[:, 0]  # w_h
    p[:, 1:3] = 1.0 + 0.15 * u[:, 1:3] - 0.05  # w_s, w_v: mild change
    p[:, 3] = 0.01 * u[:, 3]  # b_h
    p[:, 4:6] = 0.05 * u[:, 4:6]  # b_s, b_v
    s01 = (u[:, SIGMA] + 1.0) / 2.0  # smooth, spans [0, 1] per channel
    if case == 'typical':
        p[:, SIGMA] = 2.0 * s01
    else:
        p[:, SIGMA] = DF.SIGMA_MAX * rank_uniform(s01)
    p[:, NOISE] = 0.05 + 0.02 * u[:, NOISE]  # noise scale in [0.03, 0.07]
    return p.to(device)


def param_summary(params: torch.Tensor) -> Dict:
    sig = params[:, SIGMA]
    return dict(sigma_min=round(float(sig.min()), 3),
                sigma_max=round(float(sig.max()), 3),
                sigma_mean=round(float(sig.mean()), 3),
                noise_mean=round(float(params[:, NOISE].mean()), 4))


# --------------------------------------------------------------- encoder


def build_translator(encoder: str, device: str, seed: int = 0):
    """An FCN translator whose KPN predicts "typical" parameters.

    The encoder has random weights, so its logits have arbitrary scale: the
    KPN conv gets random weights rescaled per output channel (on one probe
    image) so that every parameter map varies around the typical values.
    """
    from dakpn_aug import DAKPNTranslator
    torch.manual_seed(seed)
    tr = DAKPNTranslator.build(encoder=encoder, device=device)
    # raw value mean / std per output channel (activations see kpn docs).
    target_mean = torch.tensor([0.0, -0.1, -0.05, 0.0, 0.0, 0.02,
                                1.0, 1.0, 1.0, 0.05, 0.05, 0.05])
    target_std = torch.tensor([0.01, 0.05, 0.05, 0.005, 0.02, 0.02,
                               0.5, 0.5, 0.5, 0.01, 0.01, 0.01])
    conv = tr.kpn.conv
    with torch.no_grad():
        feats = tr.encoder(make_image((720, 1280), device, seed=seed + 1))
        conv.weight.normal_()
        conv.bias.zero_()
        raw = tr.kpn.raw(feats)
        mean = raw.mean(dim=(0, 2, 3)).cpu()
        std = raw.std(dim=(0, 2, 3)).cpu().clamp_min(1e-6)
        scale = target_std / std
        conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight))
        conv.bias.copy_((target_mean - mean * scale).to(conv.bias))
    return tr


# ------------------------------------------------------------ naive blur


def naive_local_blur(img: torch.Tensor, sigma: torch.Tensor,
                     kernel_size: int = DF.KERNEL_SIZE) -> torch.Tensor:
    """The authors' way: every pixel gets its own 2D Gaussian kernel.

    ``img`` (B, C, H, W), ``sigma`` (B, C or 1, H, W). Kernel of pixel i:
    ``exp(-(x^2 + y^2) / (2 sigma_i^2))`` on the 25x25 support, normalised
    to sum 1; ``F.unfold`` of the replicate-padded image gives each pixel's
    25x25 neighbourhood; the output is the weighted sum.
    """
    b, c, h, w = img.shape
    r = kernel_size // 2
    kk = kernel_size * kernel_size
    padded = F.pad(img, (r, r, r, r), mode='replicate')
    patches = F.unfold(padded, kernel_size).view(b, c, kk, h * w)
    ax = torch.arange(-r, r + 1, device=img.device, dtype=img.dtype)
    d2 = (ax.view(-1, 1) ** 2 + ax.view(1, -1) ** 2).reshape(1, 1, kk, 1)
    # sigma -> 0 gives the unit impulse (exp(-d2 / tiny) underflows to 0
    # off-centre); clamp like the package does.
    s = sigma.expand(b, c, h, w).clamp(1e-6, DF.SIGMA_MAX)
    s = s.reshape(b, c, 1, h * w)
    kernels = torch.exp(-d2 / (2.0 * s * s))
    kernels = kernels / kernels.sum(dim=2, keepdim=True)
    return (patches * kernels).sum(dim=2).view(b, c, h, w)


def naive_translate(img: torch.Tensor, full_params: torch.Tensor,
                    noise: torch.Tensor) -> torch.Tensor:
    """Eq. 1 with the naive blur; ``full_params`` already at image size."""
    w, bias, sigma, n = DF.split_params(full_params)
    rgb = DF.color_affine(img, w, bias)  # the package's default space
    return (naive_local_blur(rgb, sigma) + n * noise).clamp(0.0, 1.0)


def run_naive(device: str, repeats: int, warmup: int, sizes,
              retries: int = 0, quiet_wait: float = 0.0) -> Dict:
    ch, cw = NAIVE_CROP
    ref_h, ref_w = GOAL_TIME_SIZE
    top, left = (ref_h - ch) // 2, (ref_w - cw) // 2
    img = make_image(GOAL_TIME_SIZE, device)[..., top:top + ch,
                                             left:left + cw].contiguous()
    noise = DF.make_noise((1, 3, ch, cw), seed=0, device=device)
    result = dict(crop=size_str(NAIVE_CROP), checks={})
    with torch.no_grad():
        # Correctness: naive == exact mode of the package on this crop.
        for case in ('typical', 'full range'):
            full = DF.upsample_params(make_params(case, device),
                                      GOAL_TIME_SIZE,
                                      crop=(top, left, ch, cw))
            sigma = full[:, SIGMA]
            naive = naive_local_blur(img, sigma)
            exact = DF.local_gaussian_blur(img, sigma, mode='exact')
            fast = DF.local_gaussian_blur(img, sigma, mode='fast')
            diff = float((naive - exact).abs().max())
            result['checks'][case] = dict(
                naive_vs_exact_max_abs=diff,
                fast_vs_exact_max_abs=float((fast - exact).abs().max()),
                fast_vs_exact_mean_abs=float((fast - exact).abs().mean()))
            assert diff < 1e-4, (
                f'naive blur disagrees with local_gaussian_blur(mode="exact")'
                f' on the {case} crop: max abs diff {diff:.3g}')
        full = DF.upsample_params(make_params('typical', device),
                                  GOAL_TIME_SIZE, crop=(top, left, ch, cw))
    t = time_quiet(lambda: naive_translate(img, full, noise), device,
                   repeats, warmup, retries, quiet_wait)
    result.update(t)
    result['scaled'] = {}
    for size in sizes:
        factor = size[0] * size[1] / float(ch * cw)
        result['scaled'][size_str(size)] = dict(
            factor=factor, median_ms=t['median_ms'] * factor,
            min_ms=t['min_ms'] * factor)
    return result


# ---------------------------------------------------------------- memory


def _rss_bytes() -> Optional[int]:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS. Note: Linux carries it
    # over an exec, so a child started by a big parent inherits the
    # parent's peak; VmHWM (below) does not have that problem.
    v = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return v if sys.platform == 'darwin' else v * 1024


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); Linux >= 4.0."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _hwm_bytes() -> Optional[int]:
    """Peak RSS of this process image (VmHWM, since exec or last reset)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class RSSSampler(threading.Thread):
    """Samples the process RSS every ``interval`` seconds."""

    def __init__(self, interval: float = 0.0005):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            rss = _rss_bytes()
            if rss is not None and rss > self.peak:
                self.peak = rss
            time.sleep(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def _setup_case(case: str, size, device: str, encoder: str):
    """Returns a no-argument callable running one measurement case."""
    img = make_image(size, device)
    if case.startswith('translate:'):
        params = make_params(case.split(':', 1)[1], device)
        noise = DF.make_noise((1, 3) + tuple(size), seed=0, device=device)
        return lambda: DF.translate(img, params, noise=noise)
    if case == 'encoder+translate':
        tr = build_translator(encoder, device)
        return lambda: tr.translate_batch(img)
    if case == 'encoder':
        tr = build_translator(encoder, device)
        return lambda: tr.predict_params(img)
    raise ValueError(f'unknown memory case {case!r}')


def measure_memory_child(case: str, size, encoder: str) -> Dict:
    """Runs inside a fresh process: peak RSS increase over one call (the
    first call, then a second one; the max over both is reported).

    Three views of the peak, the largest is reported: the kernel's VmHWM
    (reset just before the call when /proc/self/clear_refs allows it),
    RSS sampled every 0.5 ms in a thread, and getrusage's ru_maxrss (only
    when it rose during the call).
    """
    fn = _setup_case(case, size, 'cpu', encoder)
    gc.collect()
    baseline = _rss_bytes()
    maxrss_before = _maxrss_bytes()
    if baseline is None:  # no /proc: getrusage only
        baseline = maxrss_before
    hwm_reset = _reset_hwm()
    hwm_before = _hwm_bytes()
    sampler = RSSSampler()
    sampler.start()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = fn()
        del out
        out = fn()
        del out
    elapsed = time.perf_counter() - t0
    sampler.stop()
    maxrss_after = _maxrss_bytes()
    hwm_after = _hwm_bytes()
    views = dict(sampled=sampler.peak)
    if maxrss_after > maxrss_before:  # the lifetime peak was in the calls
        views['getrusage'] = maxrss_after
    if hwm_after is not None and (hwm_reset or hwm_after > hwm_before):
        views['vmhwm'] = hwm_after
    peak = max(views.values())

    def mb(v):
        return max(0, v - baseline) / MIB

    return dict(case=case, size=size_str(size),
                baseline_rss_mb=baseline / MIB,
                peak_increase_mb=mb(peak),
                views_increase_mb={k: mb(v) for k, v in views.items()},
                hwm_reset=hwm_reset, seconds=elapsed)


def measure_memory_cpu(case: str, size, args) -> Dict:
    cmd = [*subcommand('benchmark-speed'),
           '--measure-memory', case, '--memory-size', size_str(size),
           '--threads', str(args.threads), '--encoder', args.encoder]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith('MEMORY_RESULT '):
            return json.loads(line[len('MEMORY_RESULT '):])
    raise RuntimeError(f'memory measurement {case!r} failed (exit '
                       f'{proc.returncode}):\n{proc.stderr[-3000:]}')


def measure_memory_cuda(case: str, size, encoder: str) -> Dict:
    fn = _setup_case(case, size, 'cuda', encoder)
    with torch.no_grad():
        fn()  # warm-up (cuDNN / cuBLAS workspaces)
        torch.cuda.synchronize()
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = fn()
        torch.cuda.synchronize()
        del out
    peak = torch.cuda.max_memory_allocated() - base
    return dict(case=case, size=size_str(size),
                peak_increase_mb=peak / MIB,
                baseline_allocated_mb=base / MIB)


# --------------------------------------------------------------- profile


def run_profile(size, device: str, out_dir: Path) -> str:
    """torch.profiler table + coarse stage breakdown of translate."""
    from torch.profiler import ProfilerActivity, profile
    img = make_image(size, device)
    params = make_params('typical', device)
    noise = DF.make_noise((1, 3) + tuple(size), seed=0, device=device)
    lines = [f'## translate profile: {device}, {size_str(size)}, typical '
             'parameters', '']
    # Coarse stages through the public functions.
    load = OtherLoad().start()
    with torch.no_grad():
        for _ in range(2):
            DF.translate(img, params, noise=noise)
        stages = {}

        def stage(name, fn, n=5):
            fn()  # warm-up
            ts = []
            for _ in range(n):
                sync(device)
                t0 = time.perf_counter()
                r = fn()
                sync(device)
                ts.append((time.perf_counter() - t0) * 1e3)
            stages[name] = statistics.median(ts)
            return r

        full = stage('upsample_params', lambda: DF.upsample_params(
            params, tuple(size)))
        w, b, sigma, n = DF.split_params(full)
        rgb = stage('colour affine (YCbCr)',
                    lambda: DF.color_affine(img, w, b))
        blurred = stage('local_gaussian_blur (fast)',
                        lambda: DF.local_gaussian_blur(rgb, sigma))
        stage('noise + clamp',
              lambda: (blurred + n * noise).clamp(0.0, 1.0))
        stage('translate (total)',
              lambda: DF.translate(img, params, noise=noise))
    stage_load = load.stop()
    lines.append(f'(other processes used {100 * stage_load:.0f}% of the CPU '
                 'meanwhile)' if stage_load is not None else '')
    lines.append('')
    lines.append('| stage | median ms |')
    lines.append('|---|---:|')
    for k, v in stages.items():
        lines.append(f'| {k} | {v:.1f} |')
    lines.append('')
    activities = [ProfilerActivity.CPU]
    if device == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with torch.no_grad(), profile(activities=activities,
                                  record_shapes=False) as prof:
        for _ in range(3):
            DF.translate(img, params, noise=noise)
        sync(device)
    sort = 'self_cuda_time_total' if device == 'cuda' else \
        'self_cpu_time_total'
    lines.append('torch.profiler, 3 calls, sorted by self time:')
    lines.append('```')
    lines.append(prof.key_averages().table(sort_by=sort, row_limit=20))
    lines.append('```')
    text = '\n'.join(lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f'profile_{device}.md').write_text(text + '\n')
    return text


# ------------------------------------------------------------------ main


def throughput_rows(device: str, dtype: torch.dtype, encoder: str,
                    batch: int, repeats: int, warmup: int,
                    sizes=(GOAL_TIME_SIZE, SCALE_SIZE)) -> List[Dict]:
    """Images per second of ``DAKPNTranslator.translate_batch`` on batches
    of ``dtype`` images (one call per batch, noise drawn on the device):
    translation only (parameters given) at the first size, the encoder +
    translation at every size. The GPU goals are judged on CUDA; the same
    code runs anywhere (the tests run it on the CPU)."""
    tr = build_translator(encoder, device)
    tr.noise = 'fresh'  # a new field per batch, drawn on the device
    gen = torch.Generator(device=device).manual_seed(0)
    out = []
    for i, size in enumerate(sizes):
        b = batch if i == 0 else max(1, batch // 4)
        img = make_image(size, device).to(dtype).expand(b, -1, -1, -1)
        img = img.contiguous()
        cases = [('encoder + translate', None)]
        if i == 0:
            params = make_params('typical', device).expand(b, -1, -1, -1)
            cases.insert(0, ('translate', params))
        for name, params in cases:
            t = time_call(lambda: tr.translate_batch(img, generator=gen,
                                                     params=params),
                          device, repeats, warmup)
            ips = b * 1e3 / t['median_ms']
            if name == 'translate' and tuple(size) == GOAL_TIME_SIZE:
                goal = f'>= {GOAL_GPU_IMAGES_PER_S:.0f} images/s'
                ok = ips >= GOAL_GPU_IMAGES_PER_S
            elif tuple(size) == SCALE_SIZE:
                goal, ok = f'>= {GOAL_GPU_4K_FPS:.0f} fps', \
                    ips >= GOAL_GPU_4K_FPS
            else:
                goal = ok = None
            out.append(dict(
                device=device, size=size_str(size),
                case=f'{name}, {str(dtype).replace("torch.", "")}, '
                f'batch {b}, per image', images_per_s=ips,
                median_ms=t['median_ms'] / b, min_ms=t['min_ms'] / b,
                other_cpu=t['other_cpu'],
                goal_time='' if goal is None or device != 'cuda' else
                f'{goal}: {"met" if ok else "NOT met"} ({ips:.0f})'))
    return out


def goal_time(device: str, size, median: float,
              limit: Optional[float]) -> str:
    if device != 'cpu' or tuple(size) != GOAL_TIME_SIZE or limit is None:
        return ''
    ok = median <= limit
    return f'<= {limit:.0f} ms: {"met" if ok else "NOT met"}'


def goal_memory(device: str, size, mb: Optional[float]) -> str:
    if mb is None or device != 'cpu' or tuple(size) != GOAL_MEMORY_SIZE:
        return ''
    ok = mb <= GOAL_MEMORY_MB
    return f'<= 2 GB: {"met" if ok else "NOT met"}'


def fmt(v: Optional[float], digits: int = 1) -> str:
    return '' if v is None else f'{v:.{digits}f}'


def markdown(report: Dict) -> str:
    m = report['machine']
    lines = ['# DA-KPN translation speed', '']
    lines.append(f'- CPU: {m["cpu"]}, {m["cpu_cores"]} cores '
                 f'(torch threads: {m["torch_threads"]}'
                 + (f', {m["cpu_capability"]}' if 'cpu_capability' in m
                    else '') + ')')
    if 'gpu' in m:
        lines.append(f'- GPU: {m["gpu"]} (CUDA {m["cuda"]})')
    lines.append(f'- torch {m["torch"]}, Python {m["python"]}')
    lines.append(f'- batch 1, float32; median/min over {report["repeats"]} '
                 f'runs after {report["warmup"]} warm-up runs (CPU); '
                 'translation with low-res 96x160 parameters and noise on; '
                 'peak memory = peak increase during one call (CPU: process '
                 'RSS, fresh subprocess; CUDA: max_memory_allocated); '
                 'MB = 2^20 bytes')
    lines.append('')
    lines.append('| device | case | size | median ms | min ms | '
                 'peak memory MB | goal | other procs CPU % |')
    lines.append('|---|---|---|---:|---:|---:|---|---:|')
    busy_rows = 0
    for r in report['rows']:
        goal = '; '.join(g for g in (r.get('goal_time', ''),
                                     r.get('goal_memory', '')) if g)
        other = r.get('other_cpu')
        flag = ''
        if other is not None and other > BUSY_WARN:
            flag, busy_rows = ' (!)', busy_rows + 1
        lines.append(f'| {r["device"]} | {r["case"]} | {r["size"]} | '
                     f'{fmt(r.get("median_ms"))} | {fmt(r.get("min_ms"))} | '
                     f'{fmt(r.get("peak_memory_mb"))} | {goal} | '
                     f'{fmt(None if other is None else 100 * other, 0)}'
                     f'{flag} |')
    lines.append('')
    if busy_rows:
        lines.append(f'- **(!) {busy_rows} row(s) were timed while other '
                     f'processes used > {100 * BUSY_WARN:.0f}% of the CPU: '
                     'those timings are inflated.**')
    for line in report.get('ratios', []):
        lines.append(f'- {line}')
    for dev, naive in report.get('naive', {}).items():
        for case, c in naive['checks'].items():
            lines.append(
                f'- naive vs exact blur on the {naive["crop"]} crop '
                f'({dev}, {case} sigma): max abs diff '
                f'{c["naive_vs_exact_max_abs"]:.2e} (asserted < 1e-4); '
                f'fast vs exact: max {c["fast_vs_exact_max_abs"]:.2e}, '
                f'mean {c["fast_vs_exact_mean_abs"]:.2e}')
    if report.get('param_summaries'):
        lines.append('- parameter maps (upsampled): ' + '; '.join(
            f'{k}: sigma {v["sigma_min"]}..{v["sigma_max"]} (mean '
            f'{v["sigma_mean"]}), noise scale {v["noise_mean"]}'
            for k, v in report['param_summaries'].items()))
    lines.append(
        '- goals (CPU): translation at 720x1280 <= '
        f'{GOAL_TRANSLATE_MS["typical"]:.0f} ms median for typical '
        f'parameters, <= {GOAL_TRANSLATE_MS["full range"]:.0f} ms over the '
        f'full sigma range, >= {GOAL_NAIVE_RATIO:.0f}x the per-pixel loop; '
        f'encoder + translation <= {GOAL_ENCODER_MS:.0f} ms; 4K in <= 9x '
        'the 720x1280 time (linear in pixels) with <= 2 GB peak memory; a '
        f'batch of {BATCH} no slower per image than one image. GPU: >= '
        f'{GOAL_GPU_IMAGES_PER_S:.0f} images/s at 720x1280 in half '
        f'precision, 4K with the encoder at >= {GOAL_GPU_4K_FPS:.0f} fps')
    busy = report.get('cpu_busy_other') or {}
    vals = [v for v in busy.values() if v is not None]
    if vals:
        lines.append('- CPU busy with other processes (1 s, just before / '
                     'after the benchmark): ' + ' / '.join(
                         f'{100 * v:.0f}%' if v is not None else '?'
                         for v in (busy.get('before'), busy.get('after'))))
    lines.append(f'- benchmark wall time: {report["wall_seconds"]:.0f} s')
    return '\n'.join(lines) + '\n'


def benchmark_device(device: str, args, report: Dict) -> None:
    repeats = args.repeats or (10 if device == 'cpu' else 30)
    warmup = args.warmup if args.warmup is not None else \
        (2 if device == 'cpu' else 5)
    report['repeats'], report['warmup'] = repeats, warmup
    rows = report['rows']
    typical_ms, case_ms = {}, {}

    def tstr(t):
        o = t.get('other_cpu')
        return (f'{t["median_ms"]:.1f} ms' +
                (f' (other processes {100 * o:.0f}% CPU, attempt '
                 f'{t["attempts"]})' if o is not None and o > 0.02 else ''))

    def log(msg):
        print(f'[{time.strftime("%H:%M:%S")}] {device}: {msg}', flush=True)

    # 1. Translation only.
    for size in args.sizes:
        img = make_image(size, device)
        noise = DF.make_noise((1, 3) + tuple(size), seed=0, device=device)
        for case in TRANSLATE_CASES:
            params = make_params(case, device)
            report['param_summaries'][case] = param_summary(params)
            t = time_quiet(lambda: DF.translate(img, params, noise=noise),
                           device, repeats, warmup, args.retries,
                           args.quiet_wait)
            log(f'translate {case} {size_str(size)}: {tstr(t)}')
            rows.append(dict(device=device, case=f'translate: {case}',
                             size=size_str(size), **t,
                             goal_time=goal_time(device, size, t['median_ms'],
                                                 GOAL_TRANSLATE_MS.get(case))))
            case_ms[(case, size_str(size))] = t['median_ms']
            if case == 'typical':
                typical_ms[size_str(size)] = t['median_ms']
    # Cost linear in pixels: the largest size against the first (the
    # goal: 4K in <= 9x the 720x1280 time, 9x the pixels).
    first, largest = args.sizes[0], max(args.sizes,
                                        key=lambda z: z[0] * z[1])
    pixels = largest[0] * largest[1] / (first[0] * first[1])
    for case in ('typical', 'full range') if pixels > 1 else ():
        ratio = case_ms[(case, size_str(largest))] / \
            case_ms[(case, size_str(first))]
        report['ratios'].append(
            f'{device}, translation, {case}: {size_str(largest)} / '
            f'{size_str(first)} = {ratio:.1f}x the time for {pixels:.1f}x '
            f'the pixels (goal <= {pixels:.1f}x: '
            f'{"met" if ratio <= pixels else "NOT met"})')
    # A batch of BATCH images at the first size: per image no slower than
    # one at a time.
    img = make_image(first, device).expand(BATCH, -1, -1, -1).contiguous()
    noise = DF.make_noise((BATCH, 3) + tuple(first), seed=0, device=device)
    params = make_params('typical', device).expand(BATCH, -1, -1, -1)
    t = time_quiet(lambda: DF.translate(img, params, noise=noise), device,
                   max(3, repeats // 2), 1, args.retries, args.quiet_wait)
    per = {k: t[k] / BATCH for k in ('median_ms', 'min_ms')}
    one = typical_ms[size_str(first)]
    log(f'translate typical batch {BATCH}: {per["median_ms"]:.1f} ms per '
        'image')
    rows.append(dict(
        device=device, case=f'translate: typical, batch {BATCH}, per image',
        size=size_str(first), **per, other_cpu=t['other_cpu'],
        goal_time=(f'<= batch 1 ({one:.1f}): '
                   f'{"met" if per["median_ms"] <= one else "NOT met"}')))

    # 2. Encoder + translation.
    tr = build_translator(args.encoder, device)
    for size in args.sizes:
        img = make_image(size, device)
        report['param_summaries']['encoder-predicted'] = param_summary(
            DF.upsample_params(tr.predict_params(img), tuple(size)))
        t = time_quiet(lambda: tr.translate_batch(img), device, repeats,
                       warmup, args.retries, args.quiet_wait)
        log(f'encoder+translate {size_str(size)}: {tstr(t)}')
        rows.append(dict(device=device,
                         case=f'encoder ({args.encoder}) + translate',
                         size=size_str(size), **t,
                         goal_time=goal_time(device, size, t['median_ms'],
                                             GOAL_ENCODER_MS)))
        t = time_quiet(lambda: tr.predict_params(img), device, repeats,
                       warmup, args.retries, args.quiet_wait)
        log(f'encoder only {size_str(size)}: {tstr(t)}')
        rows.append(dict(device=device,
                         case=f'encoder ({args.encoder}) + KPN only '
                         '(reference)', size=size_str(size), **t))
    del tr
    gc.collect()

    # 2b. Throughput of the batched path in half precision (the GPU goals;
    # measured wherever CUDA runs).
    if device == 'cuda':
        for dtype in (torch.float16, torch.bfloat16):
            for r in throughput_rows(device, dtype, args.encoder,
                                     GPU_BATCH, repeats, warmup):
                log(f'{r["case"]} {r["size"]}: {r["images_per_s"]:.0f} '
                    'images/s')
                rows.append(r)

    # 3. Peak memory for one image.
    msize = args.memory_size
    for case in MEMORY_CASES:
        if device == 'cpu':
            mem = measure_memory_cpu(case, msize, args)
        else:
            mem = measure_memory_cuda(case, msize, args.encoder)
        log(f'memory {case} {size_str(msize)}: '
            f'{mem["peak_increase_mb"]:.0f} MB')
        report['memory'].append(dict(device=device, **mem))
        label = (f'translate: {case.split(":", 1)[1]}'
                 if case.startswith('translate:') else
                 f'encoder ({args.encoder}) + translate')
        for r in rows:
            if r['device'] == device and r['case'] == label and \
                    r['size'] == size_str(msize):
                r['peak_memory_mb'] = mem['peak_increase_mb']
                r['goal_memory'] = goal_memory(device, msize,
                                               mem['peak_increase_mb'])
                break
        else:
            rows.append(dict(device=device, case=label, size=size_str(msize),
                             peak_memory_mb=mem['peak_increase_mb'],
                             goal_memory=goal_memory(
                                 device, msize, mem['peak_increase_mb'])))

    # 4. Naive per-pixel-kernel baseline.
    naive = run_naive(device, repeats, warmup, args.sizes, args.retries,
                      args.quiet_wait)
    report['naive'][device] = naive
    log(f'naive {naive["crop"]}: {tstr(naive)}')
    rows.append(dict(device=device,
                     case=f'naive per-pixel kernels ({naive["crop"]} crop)',
                     size=naive['crop'], median_ms=naive['median_ms'],
                     min_ms=naive['min_ms'], other_cpu=naive['other_cpu']))
    for size in args.sizes:
        s = naive['scaled'][size_str(size)]
        rows.append(dict(device=device,
                         case=f'naive, scaled x{s["factor"]:.1f} by pixel '
                         'count (estimate)', size=size_str(size),
                         median_ms=s['median_ms'], min_ms=s['min_ms'],
                         other_cpu=naive['other_cpu']))
        ours = typical_ms[size_str(size)]
        ratio = s['median_ms'] / ours
        report['ratio'].setdefault(device, {})[size_str(size)] = ratio
        extra = ''
        if tuple(size) == GOAL_TIME_SIZE:
            extra = (f'; the authors tile a 720x1280 image into 8x8 = 64 '
                     f'patches of {naive["crop"]} (goal >= '
                     f'{GOAL_NAIVE_RATIO:.0f}x: '
                     f'{"met" if ratio >= GOAL_NAIVE_RATIO else "NOT met"})')
        report['ratios'].append(
            f'{device}, translation only, {size_str(size)}, typical params: '
            f'naive per-pixel kernels {s["median_ms"]:.0f} ms (= '
            f'{naive["median_ms"]:.1f} ms per {naive["crop"]} crop x '
            f'{s["factor"]:.1f}) / ours {ours:.1f} ms = {ratio:.1f}x'
            + extra)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', default='720x1280,2160x3840',
                        help='comma-separated HxW image sizes')
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed runs per case (default 10 on CPU, 30 on '
                        'CUDA)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='warm-up runs (default 2 on CPU, 5 on CUDA)')
    parser.add_argument('--device', choices=('cpu', 'cuda', 'all'),
                        default='all',
                        help='all = the CPU and CUDA if available')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: sizes 180x320 and 360x640, 3 '
                        'repeats')
    parser.add_argument('--retries', type=int, default=2,
                        help='re-time a case up to this many times while '
                        'other processes load the CPU (default 2)')
    parser.add_argument('--quiet-wait', type=float, default=30.0,
                        help='before timing a case, wait up to this many '
                        'seconds for other processes to leave the CPU idle '
                        '(default 30; 0 = never wait)')
    parser.add_argument('--encoder', default='fcn_r50-d8',
                        help='encoder preset or mmseg config')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch CPU threads (default: all cores)')
    parser.add_argument('--memory-size', type=parse_size, default=None,
                        help='image size of the memory measurement (default '
                        '2160x3840 if among --sizes, else the largest)')
    parser.add_argument('--profile', action='store_true',
                        help='also profile translate (typical params, first '
                        'size) with torch.profiler')
    parser.add_argument('--out', default='work_dirs/benchmark',
                        help='output folder for speed.json and speed.md')
    parser.add_argument('--measure-memory', default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    torch.set_num_threads(max(1, args.threads))
    import cv2  # the translation's OpenCV kernels: the same thread count
    cv2.setNumThreads(max(1, args.threads))

    if args.measure_memory:  # child process of a CPU memory measurement
        size = args.memory_size or GOAL_MEMORY_SIZE
        res = measure_memory_child(args.measure_memory, size, args.encoder)
        print('MEMORY_RESULT ' + json.dumps(res), flush=True)
        return 0

    if args.quick:
        args.sizes = '180x320,360x640'
        args.repeats = args.repeats or 3
        args.warmup = 1 if args.warmup is None else args.warmup
    args.sizes = [parse_size(s) for s in args.sizes.split(',') if s.strip()]
    if args.memory_size is None:
        args.memory_size = GOAL_MEMORY_SIZE if GOAL_MEMORY_SIZE in \
            args.sizes else max(args.sizes, key=lambda s: s[0] * s[1])
    if args.device == 'all':
        devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    elif args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    else:
        devices = [args.device]

    busy_before = cpu_busy()
    t_start = time.perf_counter()
    report = dict(machine=machine_info(devices, torch.get_num_threads()),
                  args=dict(sizes=[size_str(s) for s in args.sizes],
                            memory_size=size_str(args.memory_size),
                            encoder=args.encoder, devices=devices,
                            quick=args.quick),
                  goals=dict(translate_720x1280_ms=GOAL_TRANSLATE_MS,
                             encoder_translate_720x1280_ms=GOAL_ENCODER_MS,
                             memory_4k_mb=GOAL_MEMORY_MB,
                             naive_ratio=GOAL_NAIVE_RATIO,
                             gpu_images_per_s=GOAL_GPU_IMAGES_PER_S,
                             gpu_4k_fps=GOAL_GPU_4K_FPS),
                  rows=[], memory=[], naive={}, ratio={}, ratios=[],
                  param_summaries={})
    m = report['machine']
    print(f'CPU: {m["cpu"]} ({m["cpu_cores"]} cores, {m["torch_threads"]} '
          f'torch threads); torch {m["torch"]}'
          + (f'; GPU: {m["gpu"]}' if 'gpu' in m else ''), flush=True)
    if busy_before is not None and busy_before > BUSY_WARN:
        print(f'WARNING: {100 * busy_before:.0f}% of the CPU is busy with '
              'other processes; timings will be inflated.', flush=True)
    repeats_by_device = {}
    for device in devices:
        benchmark_device(device, args, report)
        repeats_by_device[device] = (report['repeats'], report['warmup'])
    cpu_rw = repeats_by_device.get('cpu', repeats_by_device[devices[0]])
    report['repeats'], report['warmup'] = cpu_rw
    report['repeats_by_device'] = repeats_by_device

    profiles = {}
    if args.profile:
        for device in devices:
            wait_for_quiet(args.quiet_wait)
            profiles[device] = run_profile(args.sizes[0], device,
                                           Path(args.out))
    report['wall_seconds'] = time.perf_counter() - t_start
    report['cpu_busy_other'] = dict(before=busy_before, after=cpu_busy())

    md = markdown(report)
    print()
    print(md)
    for text in profiles.values():
        print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'speed.json').write_text(json.dumps(report, indent=2) + '\n')
    (out / 'speed.md').write_text(md)
    print(f'wrote {out / "speed.json"} and {out / "speed.md"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
