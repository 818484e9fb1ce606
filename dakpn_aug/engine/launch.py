"""What ``tools/train_dakpn.py`` and ``tools/train_segmentor.py`` share when
they build an mmengine Runner: config overrides, iteration rescaling, and
the CPU / DDP-on-CPU setup that mmengine 0.10.7 does not handle."""
from __future__ import annotations

import argparse
import os
import os.path as osp


def load_config(path: str, cfg_options=None, work_dir=None,
                launcher: str = 'none'):
    """``Config.fromfile`` + ``--cfg-options`` + work dir (default
    ``work_dirs/CONFIG_NAME``) + launcher. ``path`` is a file or one of
    the shipped configs (``demo/dakpn_demo.py``, ``dakpn_aug::...``)."""
    from mmengine.config import Config, DictAction

    from ..configs import config_path, register_scope
    try:
        path = str(config_path(path))
    except FileNotFoundError as e:
        raise SystemExit(f'error: {e}')
    register_scope()
    cfg = Config.fromfile(path)
    if cfg_options:
        ns = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, ns, cfg_options)
        cfg.merge_from_dict(ns.o)
    cfg.launcher = launcher
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def set_max_iters(cfg, n: int) -> None:
    """Set the iterations and fit the hook intervals and the iteration-based
    LR schedule (warm-up, decay) to the new length."""
    old = cfg.train_cfg.get('max_iters')
    cfg.train_cfg.max_iters = n
    if cfg.train_cfg.get('val_interval'):
        cfg.train_cfg.val_interval = min(cfg.train_cfg.val_interval, n)
    ck = cfg.get('default_hooks', {}).get('checkpoint')
    if ck is not None and ck.get('interval'):
        ck.interval = min(ck.interval, n)
    for hook in cfg.get('custom_hooks', []) or []:
        if hook.get('interval'):
            hook['interval'] = min(hook['interval'], n)
    scheds = cfg.get('param_scheduler') or []
    if isinstance(scheds, dict):
        scheds = [scheds]
    if not old:
        return
    r = n / old
    for s in scheds:
        if s.get('by_epoch', True) or s.get('end') is None:
            continue
        begin = int(round(s.get('begin', 0) * r))
        end = n if s.end >= old else int(round(s.end * r))
        s.begin, s.end = min(begin, n - 1), max(end, begin + 1)


def set_seed(cfg, seed) -> None:
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=seed)


def setup_device(cfg, launcher: str, wrapper: str) -> None:
    """CPU-only machines: gloo instead of nccl, the cores shared between
    processes, and a DDP wrapper without ``device_ids`` (mmengine defaults
    them to ``[LOCAL_RANK]``, which DDP rejects for CPU modules)."""
    import torch
    if launcher != 'none':
        cfg.model_wrapper_cfg = dict(
            cfg.get('model_wrapper_cfg') or dict(type=wrapper))
    if torch.cuda.is_available():
        return
    cfg.env_cfg = dict(cfg.get('env_cfg', {}), dist_cfg=dict(backend='gloo'))
    world = int(os.environ.get('WORLD_SIZE', '1'))
    # OMP_NUM_THREADS, when the user set it, wins (several trainings side
    # by side: tools/benchmark_downstream.py --jobs).
    threads = int(os.environ.get('OMP_NUM_THREADS') or 0) or \
        (os.cpu_count() or 1) // world
    torch.set_num_threads(max(1, threads))
    if launcher != 'none':
        cfg.model_wrapper_cfg['device_ids'] = None


def init_cpu_distributed(launcher: str) -> None:
    """Start the gloo process group ourselves on CPU-only machines:
    mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``
    unconditionally; the Runner skips its own initialisation when a group
    exists."""
    import torch
    import torch.distributed as dist
    if launcher == 'pytorch' and not torch.cuda.is_available() and \
            not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def train_with_clear_errors(cfg, tool: str, what: str, hooks=()):
    """Build the Runner of ``cfg`` (plus ``hooks``) and train it; the
    errors a user can cause
    (bad data, a misspelt config key, an untrusted, corrupt or truncated
    checkpoint) become one ``SystemExit`` line prefixed by ``tool``.
    Only checkpoints inside the run's work dir are unpickled. Returns the
    runner."""
    import pickle

    import torch
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from ..errors import DAKPNCheckpointError, DAKPNInputError
    from .checkpoint import trust_checkpoints_under

    def fail(msg: str):
        raise SystemExit(f'{tool}: error: {msg}')

    os.makedirs(cfg.work_dir, exist_ok=True)
    trust_checkpoints_under(cfg.work_dir)
    try:
        runner = (RUNNERS.build(cfg) if 'runner_type' in cfg
                  else Runner.from_cfg(cfg))
        for hook in hooks:
            runner.register_hook(hook)
        runner.logger.info(
            f'{what} on {runner.world_size} process(es), '
            f'{"CUDA" if torch.cuda.is_available() else "CPU"}, '
            f'{cfg.train_cfg.max_iters} iterations, work dir {cfg.work_dir}')
        runner.train()
    except (DAKPNInputError, DAKPNCheckpointError) as e:
        fail(str(e))
    except AssertionError as e:
        # mmcv's LoadImageFromFile asserts on an image it cannot decode.
        if str(e).startswith('failed to load image'):
            fail(f'a training or validation image is corrupt or unreadable '
                 f'({str(e)[len("failed to load image: "):]}); remove or '
                 'replace it')
        raise
    except FileNotFoundError as e:
        fail(f'file not found: {e} (a dataset file, or model.pretrained / '
             'load_from in the config?)')
    except TypeError as e:
        if 'unexpected keyword argument' in str(e):
            fail(f'the config names an argument its module does not take: '
                 f'{e} (a misspelt key, e.g. in --cfg-options?)')
        raise
    except pickle.UnpicklingError as e:
        fail('a checkpoint to load (load_from / --resume) holds Python '
             'objects and lies outside this run\'s work dir, so it is not '
             f'unpickled: {str(e).splitlines()[0][:200]}')
    except RuntimeError as e:
        if 'zip archive' in str(e) or 'failed finding central' in str(e):
            fail('a checkpoint to load (load_from / --resume) is corrupt '
                 f'or truncated: {str(e).splitlines()[0][:200]}')
        raise
    return runner


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {n}')
    return n


def add_runner_args(ap: argparse.ArgumentParser) -> None:
    """The options every training tool shares (mmseg's tools/train.py
    conventions): --max-iters, --resume, --seed, --cfg-options, --launcher,
    --local-rank."""
    ap.add_argument('--max-iters', type=positive_int,
                    help='override iterations (>= 1); rescales the schedule')
    ap.add_argument('--resume', action='store_true',
                    help='resume from the last checkpoint in the work dir')
    ap.add_argument('--seed', type=int, help='random seed')
    ap.add_argument('--cfg-options', nargs='+', default=None,
                    help='override config entries, KEY=VALUE (mmengine '
                    'DictAction syntax)')
    ap.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                    default='none')
    ap.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(ap: argparse.ArgumentParser, argv=None):
    args = ap.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def finish_distributed() -> None:
    """Wait for every rank (rank 0 may still be exporting) and close the
    process group: a rank that exits while its peer's gloo connection is
    open can abort the peer (SIGABRT seen on a loaded 2-core machine)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_training(cfg, launcher: str, tool: str, what: str, export):
    """The body every training tool shares: start DDP-on-CPU if asked,
    train ``cfg`` with clear errors, make sure the final model was scored
    once (a run resumed after it finished trains no step and validates
    nothing), then ``export(runner, val_metrics, val_iteration)`` on the
    main process only, and end the process group. Returns what ``export``
    returned (None on the other ranks)."""
    from mmengine.dist import is_main_process

    from .hooks import LastValMetricsHook
    init_cpu_distributed(launcher)
    rec = LastValMetricsHook()
    runner = train_with_clear_errors(cfg, tool, what, hooks=[rec])
    if rec.metrics is None and runner.val_loop is not None:
        runner.val()
    result = None
    if is_main_process():
        result = export(runner, rec.metrics, rec.iteration)
    finish_distributed()
    return result
