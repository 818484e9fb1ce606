"""Every ``dakpn-aug`` subcommand's ``--help``: the tool's own text, and
a word on every argument a user must give."""
import argparse
import importlib
import subprocess
import sys
import warnings

import pytest

from dakpn_aug import cli


@pytest.mark.parametrize('name', sorted(cli.COMMANDS))
def test_help_shows_the_tool_text_and_explains_positionals(
        name, monkeypatch):
    module = importlib.import_module(f'dakpn_aug.cli.{cli.COMMANDS[name][0]}')
    parsers = []

    def capture(self, *args, **kwargs):
        parsers.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
    with pytest.raises(SystemExit):
        module.main([])
    ap, = parsers
    assert ap.description.strip() == module.__doc__.strip()
    assert isinstance(ap.formatter_class(name),
                      argparse.RawDescriptionHelpFormatter)  # as written
    unexplained = [a.dest for a in ap._actions
                   if not a.option_strings and not a.help]
    assert not unexplained, f'{name}: positionals without help: {unexplained}'


def test_tools_hide_the_libraries_noise_and_only_theirs():
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        importlib.reload(cli)  # what importing any tool does
        warnings.warn('Fail to import ``MultiScaleDeformableAttention`` '
                      'from ``mmcv.ops.multi_scale_deform_attn``', UserWarning)
        warnings.warn('Default ``avg_non_ignore`` is False, if you would '
                      'like to ignore the certain label', UserWarning)
        warnings.warn('a warning of the tool itself', UserWarning)
    assert [str(w.message) for w in seen] == ['a warning of the tool itself']


def test_importing_the_library_changes_no_warning_filter():
    code = ('import warnings; before = list(warnings.filters); '
            'import dakpn_aug, dakpn_aug.functional; '
            'print(sum(f not in before and f[1] is not None and '
            '"MultiScale" in f[1].pattern for f in warnings.filters))')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == '0'


def test_size_and_count_arguments_say_what_is_wrong(capsys):
    assert cli.size_arg('720x1280') == (720, 1280)
    assert cli.size_arg(' 96X160 ') == (96, 160)
    for bad in ('12', '0x5', '-1x5', '5x', 'axb'):
        with pytest.raises(argparse.ArgumentTypeError, match='sizes are HxW'):
            cli.size_arg(bad)
    assert cli.count_arg(0)('0') == 0
    with pytest.raises(argparse.ArgumentTypeError, match='must be >= 1'):
        cli.count_arg(1)('0')
    with pytest.raises(argparse.ArgumentTypeError, match='an integer'):
        cli.count_arg(0)('two')
    # One clear line from the tools that take them, no traceback.
    from dakpn_aug.cli import benchmark_overhead
    with pytest.raises(SystemExit) as exit_:
        benchmark_overhead.main(['bundle.pth', '--size', '512'])
    assert exit_.value.code == 2
    assert "argument --size: sizes are HxW, e.g. 720x1280; got '512'" in \
        capsys.readouterr().err
