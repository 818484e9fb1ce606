"""tools/benchmark_zoo.py on a tiny scale: data per camera, a DA-KPN run
with the demo recipe, a peer, the report, and resuming."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dakpn_aug.models import SemanticEncoder

ROOT = Path(__file__).resolve().parents[2]


def test_zoo_benchmark_end_to_end_and_resume(tmp_path, capsys):
    enc = tmp_path / 'encoder.pth'
    torch.manual_seed(0)
    torch.save(SemanticEncoder('fcn_tiny').segmentor.state_dict(), enc)
    out = tmp_path / 'zoo'
    cmd = [sys.executable, 'tools/benchmark_zoo.py', '--out', str(out),
           '--cameras', 'hazy', '--seeds', '0', '--methods',
           'dakpn,histogram-matching', '--encoder', str(enc),
           '--max-iters', '2', '--downstream', '--downstream-iters', '2',
           '--downstream-counts', '4,4,2', '--downstream-methods',
           'source-only,target-only,dakpn,histogram-matching',
           '--downstream-jobs', '2']
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=900)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    md = (out / 'zoo.md').read_text()
    assert '| hazy | dakpn |' in md and '| hazy | histogram-matching |' in md
    summary = json.loads((out / 'zoo.json').read_text())['summary']
    row = summary['hazy']['histogram-matching']
    assert row['seeds'] == 1 and -5 < row['stats_mean'][0] < 1.01
    assert row['per_class_colour']  # classes were scored
    # ... and the means without the gaps the images cannot measure
    assert set(row['measurable']) == set(row['within_noise']) == {
        'colour', 'noise_level', 'edge_strength'}
    assert '## Per class, over the gaps the images can measure' in md
    assert (out / 'zoo.png').is_file()
    assert (out / 'swatches_hazy.png').is_file()
    down = json.loads((out / 'zoo.json').read_text())['downstream']['hazy']
    assert set(down) == {'source-only', 'target-only', 'dakpn',
                         'histogram-matching'}  # the rows asked for
    assert all(len(v) == 1 for v in down.values())
    assert '## Downstream' in md
    data = json.loads((out / 'data' / 'hazy' / 'demo_data.json').read_text())
    assert data['camera'] == 'hazy'
    # The zoo reads the downstream mIoU rows only: no FCN-score is made.
    assert not (out / 'downstream' / 'hazy' / 'fcn_score').exists()
    bundle = out / 'runs' / 'hazy' / 'dakpn_seed0' / 'dakpn_bundle.pth'
    stamps = {p: p.stat().st_mtime_ns for p in
              [bundle, *(out / 'downstream').rglob('iter_2.pth')]}
    assert len(stamps) == 5
    from dakpn_aug.cli.benchmark_zoo import main
    for argv, message in (
            (['--cameras', 'moon'], 'unknown'),
            (['--downstream', '--downstream-methods', 'dakpn'],
             "needs ['source-only', 'target-only']")):
        with pytest.raises(SystemExit) as err:
            main(['--out', str(tmp_path / 'never')] + argv)
        assert err.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / 'never').exists()
    # A rerun with an inference row added (the dakpn row's bundle
    # translated without label guidance) resumes: nothing is trained or
    # measured again, and the new row trains nothing of its own.
    row_cmd = cmd[:cmd.index('--methods') + 1] + [
        'dakpn,dakpn-no-label-guidance'] + cmd[cmd.index('--encoder'):]
    res = subprocess.run(row_cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'dakpn: camera' not in res.stdout and 'data: camera' not in \
        res.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert '| hazy | dakpn-no-label-guidance |' in (out / 'zoo.md'
                                                   ).read_text()
    assert not (out / 'runs' / 'hazy' / 'dakpn-no-label-guidance_seed0'
                ).exists()


def test_downstream_verdicts_read_the_seed_spread():
    from dakpn_aug.cli.benchmark_zoo import downstream_md, versus
    assert versus([10, 11, 12], [5, 6, 7]) == \
        'ahead beyond seed spread (+5.0)'
    assert versus([10, 11, 12], [9, 11, 16]) == \
        'behind within seed spread (-1.0)'
    assert versus([5, 6, 7], [10, 11, 12]) == \
        'behind beyond seed spread (-5.0)'
    assert versus([10, 12, 14], [9, 10, 11]).startswith(
        'ahead within seed spread (+2.0)')
    md = downstream_md({'cold': {
        'source-only': [4.8, 5.5, 6.1], 'target-only': [43.1, 43.7, 43.1],
        'dakpn': [25.6, 25.4, 29.6], 'histogram-matching': [17.1, 18.4, 12.8],
    }}, 400, [240, 240, 96])
    assert '| cold | 5.5 +- 0.7 (0%) | 43.3 +- 0.3 (100%) | 26.9 +- 2.4 ' \
        '(57%) |' in md
    assert '- cold: source-only ahead beyond seed spread (+21.4); ' \
        'histogram-matching ahead beyond seed spread (+10.8)' in md


def test_each_encoder_config_has_its_own_folder(tmp_path, monkeypatch):
    """A zoo run with another --encoder-config in the same OUT trains its
    own encoder instead of resuming from the default one's."""
    from dakpn_aug.cli import benchmark_zoo as zoo
    trained = []
    monkeypatch.setattr(zoo, 'run', lambda cmd, log: trained.append(cmd))
    default = zoo.prepare_encoder(tmp_path, tmp_path / 'gta5', None)
    assert default == tmp_path / 'encoder' / 'encoder.pth'
    ablation = zoo.configs_dir() / 'demo' / 'encoder_demo_no-cast.py'
    other = zoo.prepare_encoder(tmp_path, tmp_path / 'gta5', None, ablation)
    assert other == tmp_path / 'encoder_demo_no-cast' / 'encoder.pth'
    assert [str(c) for c in trained[1]].count(str(ablation)) == 1
    # a finished encoder is reused; a given one is used as it is
    other.parent.mkdir()
    other.write_bytes(b'')
    assert zoo.prepare_encoder(tmp_path, tmp_path, None, ablation) == other
    assert len(trained) == 2
    with pytest.raises(SystemExit, match='does not exist'):
        zoo.prepare_encoder(tmp_path, tmp_path, tmp_path / 'missing.pth')


def test_encoder_rows_train_the_recipe_through_their_encoder(tmp_path,
                                                             monkeypatch):
    """dakpn-no-cast-encoder: the dakpn row's config, trained through the
    encoder of its own config (trained once for all cameras); the dakpn
    row through the default one."""
    from dakpn_aug.cli import benchmark_zoo as zoo
    calls = []
    monkeypatch.setattr(zoo, 'prepare_data', lambda out, cam: out / cam)
    monkeypatch.setattr(
        zoo, 'prepare_encoder',
        lambda out, src, given, config=zoo.ENCODER_CONFIG: Path(config.stem))
    monkeypatch.setattr(
        zoo, 'train_dakpn', lambda out, cam, method, seed, data, enc, config,
        iters: calls.append((cam, method, seed, enc.name, config.name)))
    monkeypatch.setattr(zoo, 'measure',
                        lambda *a: {'gap_closed': {'mean': 0.5}})
    monkeypatch.setattr(zoo, 'class_swatches', lambda run: None)
    monkeypatch.setattr(zoo, 'write_png', lambda *a: None)
    monkeypatch.setattr(zoo, 'summarise', lambda results: {})
    monkeypatch.setattr(zoo, 'report_md', lambda *a: '')
    monkeypatch.setattr(zoo, 'picture', lambda *a: None)
    zoo.main(['--out', str(tmp_path), '--cameras', 'warm,cold', '--seeds',
              '0', '--methods', 'dakpn,dakpn-no-cast-encoder'])
    assert calls == [
        (cam, method, 0, enc, 'dakpn_demo.py') for cam in ('warm', 'cold')
        for method, enc in (('dakpn', 'encoder_demo'),
                            ('dakpn-no-cast-encoder', 'encoder_demo_no-cast'))]
