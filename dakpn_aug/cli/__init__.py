"""The ``dakpn-aug`` command: one subcommand per tool.

``dakpn-aug SUBCOMMAND [args]`` (or ``python -m dakpn_aug SUBCOMMAND``) runs
``dakpn_aug.cli.<module>.main(args)``; ``tools/<module>.py`` in a clone are
thin wrappers around the same functions, for users who expect mmseg-style
``tools/train.py`` scripts. Each subcommand has its own ``--help``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from typing import Callable, List, Optional, Tuple

#: Warnings the libraries print while a tool imports them or builds the
#: frozen encoder that say nothing about the command being run: mmcv-lite
#: lacks compiled ops that ``dakpn_aug/compat`` stands in for (README,
#: "Installation details: mmcv"), mmseg deprecates a builder it calls
#: itself, its cross-entropy loss announces a default, and mmengine's
#: ``mmseg::`` config bases import ``pkg_resources``. The tools hide them
#: (importing ``dakpn_aug`` as a library changes no filter).
LIBRARY_NOISE = (r'Fail to import ``MultiScaleDeformableAttention',
                 r'``build_loss`` would be deprecated',
                 r'Default ``avg_non_ignore`` is False',
                 r'pkg_resources is deprecated')
for _message in LIBRARY_NOISE:
    warnings.filterwarnings('ignore', message=_message)

#: Subcommand -> (module in dakpn_aug.cli, one line of help), in the order
#: a user meets them.
COMMANDS = {
    'demo': ('demo', 'the whole pipeline on generated demo data '
             '(--fast: a quick bundle)'),
    'make-demo-data': ('make_demo_data', 'generate the demo data sets '
                       '(synthetic GTA5 layout, real Cityscapes layout)'),
    'train-segmentor': ('train_segmentor', 'train an mmseg segmentor from '
                        'a config (the semantic encoder, downstream models)'),
    'train-dakpn': ('train_dakpn', 'train DA-KPN (mmengine Runner) into a '
                    'bundle'),
    'translate': ('translate_dataset', 'translate a data set offline '
                  '(labels copied or linked, never changed)'),
    'domain-gap': ('domain_gap', 'realism statistics, whole-image and per '
                   'class: source / translated / real'),
    'export': ('export_bundle', 'export a DA-KPN training checkpoint as a '
               'bundle'),
    'fcn-score': ('fcn_score', 'FCN-score of an image set under a trained '
                  'segmentor'),
    'train-uda': ('train_uda', 'stage 2: adapt a segmentor with unlabelled '
                  'real images'),
    'train-symmetric': ('train_symmetric', 'stage 2: the symmetric '
                        'two-model recipe with consistency pseudo labels'),
    'benchmark-speed': ('benchmark_speed', 'translation speed and memory'),
    'benchmark-overhead': ('benchmark_overhead', 'overhead of DA-KPN on an '
                           'mmseg training step'),
    'benchmark-downstream': ('benchmark_downstream', 'downstream mIoU of '
                             'segmenters trained on each kind of data'),
    'benchmark-zoo': ('benchmark_zoo', 'the DA-KPN recipe on every camera of '
                      'the demo zoo, beside the training-free peers'),
}
#: Old names that still work.
ALIASES = {'train-encoder': 'train-segmentor'}


def argument_parser(doc: str, **kwargs) -> argparse.ArgumentParser:
    """A tool's parser whose ``--help`` starts with the tool's module
    docstring, as written: what it reads and writes, the layouts it knows,
    what is safe to interrupt."""
    kwargs.setdefault('formatter_class',
                      argparse.RawDescriptionHelpFormatter)
    return argparse.ArgumentParser(description=doc, **kwargs)


def size_arg(text: str) -> Tuple[int, int]:
    """argparse type: ``'720x1280'`` -> ``(720, 1280)``, height x width."""
    m = re.fullmatch(r'\s*(\d+)x(\d+)\s*', text.lower())
    if not m or 0 in (int(m[1]), int(m[2])):
        raise argparse.ArgumentTypeError(
            f'sizes are HxW, e.g. 720x1280; got {text!r}')
    return int(m[1]), int(m[2])


def count_arg(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'expected an integer, got {text!r}') from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {n}')
        return n
    return parse


def subcommand(name: str) -> List[str]:
    """The command line that runs ``dakpn-aug name`` in a new process with
    this interpreter (what the tools chain)."""
    if name not in COMMANDS:
        raise KeyError(name)
    return [sys.executable, '-m', 'dakpn_aug', name]


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ['usage: dakpn-aug SUBCOMMAND [--help] [args]', '',
             'DA-KPN: synthetic-to-real translation that never moves a '
             'label.', '', 'subcommands:']
    lines += [f'  {name:{width}}  {text}'
              for name, (_, text) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage())
        return 0
    if argv[0] == '--version':
        from ..version import __version__
        print(f'dakpn-aug {__version__}')
        return 0
    name = ALIASES.get(argv[0], argv[0])
    if name not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f'\ndakpn-aug: error: unknown subcommand {argv[0]!r}',
              file=sys.stderr)
        return 2
    module = importlib.import_module(f'{__name__}.{COMMANDS[name][0]}')
    sys.argv[0] = f'dakpn-aug {name}'  # argparse's prog in usage lines
    return module.main(argv[1:]) or 0
