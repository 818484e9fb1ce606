"""The downstream benchmark's bookkeeping (the trainings themselves are the
benchmark, run by ``make benchmark-downstream``, not here)."""
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def bench():
    from dakpn_aug.cli import benchmark_downstream
    return benchmark_downstream


def test_every_variant_config_exists(bench):
    for name, config in bench.VARIANTS.items():
        if name in bench.SYMMETRIC:  # tools/train_symmetric.py rows
            assert config == f'symmetric:{bench.SYMMETRIC[name]}'
            continue
        where = bench.UDA_CFG if name in bench.UDA_VARIANTS else bench.CFG
        assert (where / config).is_file(), config
    # The stable names, the same name / dakpn+name pattern.
    assert {'adversarial', 'dakpn+adversarial', 'self-training',
            'dakpn+self-training', 'cycle-association',
            'dakpn+cycle-association', 'global-local', 'dakpn+global-local',
            'symmetric', 'symmetric-single'} <= set(bench.VARIANTS)


def test_bring_your_own_data_with_stage2_rows(tmp_path, tiny_translator):
    """--source-root/--target-root with a target whose train split has no
    labels: target-only is skipped with a note, the UDA rows train with
    tools/train_uda.py (2 iterations each) and land in downstream.json."""
    import shutil
    import subprocess
    import sys

    from dakpn_aug.data.demo import make_demo_data
    make_demo_data(tmp_path / 'd', seed=2, num_source=4, num_real_train=2,
                   num_real_val=2, source_size=(96, 160),
                   real_size=(96, 160))
    shutil.rmtree(tmp_path / 'd' / 'cityscapes' / 'gtFine' / 'train')
    tiny_translator.save(tmp_path / 'b.pth')
    # A finished symmetric run (tools/train_symmetric.py is tested end to
    # end in test_symmetric.py): its two rows are read, not retrained.
    sym_dir = tmp_path / 'out' / 'symmetric' / 'seed0'
    sym_dir.mkdir(parents=True)
    (sym_dir / 'results.json').write_text(json.dumps(dict(
        fusion=12.5, single=11.0, single_B=10.0)))
    # Where it came from: both rows' records say so.
    (sym_dir / 'origin.json').write_text(json.dumps(dict(
        minutes=42.0, commit='abc1234', finished='2026-12-02 13:01')))
    # Their per-class IoU: the fusion's test at the end of the recipe's
    # log, model A's last round for the single row.
    sym_dir.with_suffix('.log').write_text(LOG.replace('53.69', '12.50'))
    for r, iou in ((0, '1.00'), (1, '11.00')):
        (sym_dir / f'round{r}' / 'A').mkdir(parents=True)
        (sym_dir / f'round{r}' / 'A' / 'train_uda.log').write_text(
            LOG.replace('53.69', iou))
    res = subprocess.run(
        [sys.executable, 'tools/benchmark_downstream.py', '--source-root',
         str(tmp_path / 'd' / 'gta5'), '--target-root',
         str(tmp_path / 'd' / 'cityscapes'), '--bundle',
         str(tmp_path / 'b.pth'), '--reverse-bundle', str(tmp_path / 'b.pth'),
         '--methods', 'source-only,target-only,dakpn+adversarial,'
         'symmetric,symmetric-single',
         '--seeds', '0', '--iters', '2', '--out', str(tmp_path / 'out'),
         '--jobs', '2'],
        capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert 'target-only skipped' in res.stdout
    saved = json.loads((tmp_path / 'out' / 'downstream.json').read_text())
    assert list(saved['results']) == ['source-only', 'dakpn+adversarial',
                                      'symmetric', 'symmetric-single']
    assert saved['results']['symmetric'] == [12.5]
    assert saved['results']['symmetric-single'] == [11.0]
    assert saved['runs']['symmetric']['0']['per_class']['road'] == 12.5
    assert saved['runs']['symmetric-single']['0']['per_class']['road'] == \
        11.0
    for row in ('symmetric', 'symmetric-single'):
        assert saved['runs'][row]['0']['commit'] == 'abc1234'
        assert saved['runs'][row]['0']['minutes'] == 42.0
    assert (tmp_path / 'out' / 'dakpn_and_adversarial' / 'seed0' /
            'segmentor.pth').is_file()


def test_report_gap_closed_and_files(bench, tmp_path):
    results = {'source-only': [10.0, 12.0], 'dakpn': [20.0, 22.0],
               'target-only': [30.0, 32.0]}
    counts = dict(num_source=4, num_real_train=4, num_real_val=2)
    md = bench.write_report(results, [0, 1], 50, counts, tmp_path)
    rows = {line.split('|')[1].strip(): line for line in md.splitlines()
            if line.startswith('| ') and 'training data' not in line}
    assert rows['source-only'].rstrip().endswith('| 0% |')
    assert rows['dakpn'].rstrip().endswith('| 50% |')
    assert rows['target-only'].rstrip().endswith('| 100% |')
    assert '21.00 +- 1.41' in rows['dakpn']
    assert (tmp_path / 'downstream.png').stat().st_size > 1000
    saved = json.loads((tmp_path / 'downstream.json').read_text())
    assert saved['results'] == results and saved['iters'] == 50


def test_benchmark_data_generated_once_and_regenerated_on_change(
        bench, tmp_path):
    counts = dict(num_source=2, num_real_train=1, num_real_val=1)
    data = bench.benchmark_data(tmp_path, 3, counts)
    summary = json.loads((data / 'demo_data.json').read_text())
    assert summary['counts'] == dict(source=2, real_train=1, real_val=1)
    first = data / 'gta5' / 'images' / '00000.png'
    mtime = first.stat().st_mtime_ns
    assert bench.benchmark_data(tmp_path, 3, counts) == data
    assert first.stat().st_mtime_ns == mtime  # reused, not rewritten
    bench.benchmark_data(tmp_path, 3, dict(counts, num_source=3))
    assert len(list((data / 'gta5' / 'images').glob('*.png'))) == 3


def test_finished_training_is_not_rerun(bench, tmp_path):
    import torch
    wd = tmp_path / 'run'
    wd.mkdir()
    torch.save({'meta': {'mIoU': 12.5}}, wd / 'encoder.pth')
    # no data, no config: would fail if it tried to train
    assert bench.train_segmenter('missing.py', wd, 0, 1, tmp_path / 'x',
                                 tmp_path / 'y') == 12.5


LOG = """\
11/24 14:07:26 - mmengine - INFO - per class results:
11/24 14:07:26 - mmengine - INFO -
+---------------+-------+-------+
|     Class     |  IoU  |  Acc  |
+---------------+-------+-------+
|      road     | 53.69 | 57.72 |
|  traffic sign |  0.0  |  0.0  |
|     rider     |  nan  |  nan  |
+---------------+-------+-------+
11/24 14:07:26 - mmengine - INFO - Iter(val) [16/16]    mIoU: 26.8450
"""


def test_per_class_iou_reads_the_last_table(bench):
    first = LOG.replace('53.69', '10.00')
    got = bench.per_class_iou(first + LOG)
    assert got == {'road': 53.69, 'traffic sign': 0.0}  # nan left out
    assert bench.per_class_iou('no table here') == {}


def test_row_logs_of_the_symmetric_rows(bench, tmp_path):
    run = tmp_path / 'symmetric' / 'seed3'
    for r in (0, 2, 10):  # rounds sort by number, not as text
        (run / f'round{r}' / 'A').mkdir(parents=True)
    (run / 'round10' / 'A' / 'train_uda.log').write_text('')
    (run / 'round2' / 'A' / 'train_uda.log').write_text('')
    single = bench.row_log('symmetric-single',
                           tmp_path / 'symmetric-single' / 'seed3')
    assert single == run / 'round10' / 'A' / 'train_uda.log'
    assert bench.row_log('symmetric', run) == tmp_path / 'symmetric' / \
        'seed3.log'
    assert bench.row_log('dakpn', tmp_path / 'dakpn' / 'seed3') == \
        tmp_path / 'dakpn' / 'seed3' / 'run.log'


def test_report_per_class_table(bench, tmp_path):
    results = {'source-only': [1.0, 3.0], 'target-only': [5.0, 7.0]}
    per_class = {'source-only': [{'road': 10.0}, {'road': 20.0, 'sky': 4.0}],
                 'target-only': [{'road': 50.0}, {'road': 60.0}]}
    md = bench.write_report(results, [0, 1], 10, dict(
        num_source=1, num_real_train=1, num_real_val=1), tmp_path, per_class)
    assert '| road | 15.0 | 55.0 |' in md
    assert '| sky | 4.0 |  |' in md


def test_fcn_score_table_in_report(bench, tmp_path):
    results = {'source-only': [10.0], 'target-only': [30.0]}
    fcn = {'synthetic': [dict(pxAcc=60.0, clsAcc=25.0, mIoU=14.0),
                         dict(pxAcc=62.0, clsAcc=25.0, mIoU=16.0)],
           'DA-KPN translated': [dict(pxAcc=90.0, clsAcc=37.0, mIoU=33.0),
                                 dict(pxAcc=90.0, clsAcc=37.0, mIoU=33.0)]}
    counts = dict(num_source=4, num_real_train=4, num_real_val=2)
    md = bench.write_report(results, [0], 50, counts, tmp_path, fcn=fcn)
    assert 'FCN-score' in md
    assert '| synthetic | 61.0 +- 1.4 | 25.0 +- 0.0 | 15.0 +- 1.4 |' in md
    assert '| DA-KPN translated | 90.0 +- 0.0 |' in md
    saved = json.loads((tmp_path / 'downstream.json').read_text())
    assert saved['fcn_score'] == fcn


def test_fcn_scores_translate_once_and_score_each_seed(bench, tmp_path,
                                                      monkeypatch):
    """The FCN-score step: one offline translation of the source with the
    bundle (labels copied), then each seed's target-only segmenter on the
    untranslated and the translated images; scores already on disk are
    read, not measured again."""
    calls = []

    def fake_run(cmd, log):
        cmd = [str(c) for c in cmd]
        calls.append(cmd)
        if '--out' in cmd:  # an fcn-score run writes its scores
            Path(cmd[cmd.index('--out') + 1]).write_text(json.dumps(
                dict(pxAcc=1.0, clsAcc=2.0, mIoU=float(len(calls)))))

    monkeypatch.setattr(bench, 'run', fake_run)
    out, source, bundle = tmp_path / 'out', tmp_path / 'gta5', tmp_path / 'b'
    (out / 'fcn_score').mkdir(parents=True)
    scores = bench.fcn_scores(out, source, bundle, [0, 2])
    translated = out / 'fcn_score' / 'gta5_dakpn'
    assert calls[0][-5:] == [str(bundle), str(source), str(translated),
                             '--labels', 'copy']
    scored = [(c[c.index('--out') - 3], c[c.index('--out') - 4])
              for c in calls[1:]]
    assert scored == [
        (str(source), str(out / 'target-only' / f'seed{s}' / 'encoder.pth'))
        for s in (0, 2)] + [
        (str(translated), str(out / 'target-only' / f'seed{s}' /
                              'encoder.pth')) for s in (0, 2)]
    assert [r['mIoU'] for r in scores['synthetic']] == [2.0, 3.0]
    assert [r['mIoU'] for r in scores['DA-KPN translated']] == [4.0, 5.0]
    calls.clear()  # a rerun: the translation resumes, nothing is rescored
    assert bench.fcn_scores(out, source, bundle, [0, 2]) == scores
    assert len(calls) == 1 and '--labels' in calls[0]


def test_results_of_another_bundle_are_not_reused(bench, tmp_path):
    """A bundle is known by its weights and settings: saved again (another
    file, another save time) it is the same bundle; other weights are
    another one."""
    import torch
    from dakpn_aug import DAKPNTranslator
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny')
    bundle = tr.save(tmp_path / 'b.pth')
    bench.check_same_bundle(tmp_path, bundle)
    bench.check_same_bundle(tmp_path, bundle)  # same bundle: fine
    import time
    time.sleep(1.1)  # another 'created' second in the metadata
    again = tr.save(tmp_path / 'again.pth')
    assert again.read_bytes() != bundle.read_bytes()
    bench.check_same_bundle(tmp_path, again)  # saved again: the same
    with torch.no_grad():
        tr.kpn.conv.bias.add_(0.01)
    other = tr.save(tmp_path / 'other.pth')
    with pytest.raises(SystemExit, match='another DA-KPN bundle'):
        bench.check_same_bundle(tmp_path, other)


def test_fcn_score_only_with_target_only_weights(bench, tmp_path):
    """The FCN-score needs each seed's target-only segmenter: runs taken
    from --reuse records have none here, and are left out (all reused:
    the score is skipped) instead of failing the finished benchmark."""
    assert bench.fcn_score_seeds(tmp_path, [0, 1, 2]) == []
    for seed in (0, 2):
        weights = tmp_path / 'target-only' / f'seed{seed}' / 'encoder.pth'
        weights.parent.mkdir(parents=True)
        weights.write_bytes(b'')
    assert bench.fcn_score_seeds(tmp_path, [0, 1, 2]) == [0, 2]


def test_bring_your_own_data_runs_the_chosen_methods(bench, tmp_path,
                                                     tool_error):
    """--data DIR --methods: any demo-layout data set, the chosen rows only
    (a peer needs no bundle), the report without a target row says n/a."""
    import subprocess
    import sys

    from dakpn_aug.data.demo import make_demo_data
    data = tmp_path / 'data'
    make_demo_data(data, seed=2, num_source=4, num_real_train=3,
                   num_real_val=2, source_size=(64, 96), real_size=(64, 128),
                   camera='warm')
    out = tmp_path / 'out'
    cmd = [sys.executable, 'tools/benchmark_downstream.py', '--data',
           str(data), '--methods', 'source-only,histogram-matching',
           '--seeds', '0', '--iters', '2', '--out', str(out)]
    res = subprocess.run(cmd + ['--jobs', '2'], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    saved = json.loads((out / 'downstream.json').read_text())
    assert list(saved['results']) == ['source-only', 'histogram-matching']
    assert saved['counts'] == dict(num_source=4, num_real_train=3,
                                   num_real_val=2)
    assert '| n/a |' in (out / 'downstream.md').read_text()
    record = saved['runs']['histogram-matching']['0']
    assert record['mIoU'] == saved['results']['histogram-matching'][0]
    assert record['commit'] and record['minutes'] >= 0
    # A later session continues from the record, without retraining: the
    # new --out gets no training folder. Another protocol is refused.
    out2 = tmp_path / 'out2'
    again = cmd[:-1] + [str(out2), '--reuse', str(out / 'downstream.json')]
    res = subprocess.run(again, capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count('reused from') == 2
    assert not (out2 / 'source-only').exists()
    assert json.loads((out2 / 'downstream.json').read_text())['results'] == \
        saved['results']
    # Resumed from its folder, a run keeps where it came from (its
    # origin.json), not the resuming invocation's time; without that file
    # its commit is unknown.
    (out / 'source-only' / 'seed0' / 'origin.json').unlink()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = json.loads((out / 'downstream.json').read_text())['runs']
    assert resumed['histogram-matching']['0'] == record
    assert resumed['source-only']['0']['commit'] == 'unknown'
    assert resumed['source-only']['0']['minutes'] is None
    other = ['3' if prev == '--iters' else a
             for prev, a in zip([''] + again, again)]
    assert 'measured with' in tool_error(bench.main, other[2:])
    assert 'unknown' in tool_error(bench.main, ['--methods', 'cyclegan'])


def test_reuse_takes_matching_runs_only(bench, tmp_path):
    """--reuse: the protocol read back from JSON matches (lists, not
    tuples); a run is taken only from a commit whose configs are today's
    and, for rows with DA-KPN, with the same bundle."""
    protocol = dict(iters=400, counts=dict(num_source=2), data=['generated',
                                                                 0])
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    files = bench.row_configs('dakpn+self-training')
    assert [f.name for f in files] == [
        'fcn_tiny_demo-dakpn-self-training.py',
        'fcn_tiny_demo-self-training.py',
        'fcn_tiny_demo-uda-source-only.py', 'fcn_tiny_uda.py',
        'fcn_tiny_96x160.py']
    if not head or not bench.configs_unchanged_since(head, files):
        pytest.skip('needs a git checkout whose configs are committed')
    runs = {'source-only': {'0': dict(mIoU=9.0, commit=head),
                            '1': dict(mIoU=9.5, commit='')},
            'dakpn': {'0': dict(mIoU=30.0, bundle_digest='aaa', commit=head),
                      '1': dict(mIoU=28.0, bundle_digest='bbb',
                                commit=head)}}
    path = tmp_path / 'downstream.json'
    path.write_text(json.dumps(dict(protocol=protocol, runs=runs)))

    def provenance(name, i):
        return {'bundle_digest': 'aaa'} if name == 'dakpn' else {}

    got = list(bench.reusable_runs(path, protocol, ['source-only', 'dakpn'],
                                   [0, 1], provenance))
    assert [(n, s) for n, s, _ in got] == [('source-only', 0), ('dakpn', 0)]
    with pytest.raises(SystemExit, match='measured with'):
        list(bench.reusable_runs(path, dict(protocol, iters=800),
                                 ['source-only'], [0], provenance))



def test_chart_title_names_the_camera(tmp_path):
    import json
    from dakpn_aug.cli.benchmark_downstream import data_title
    (tmp_path / 'demo_data.json').write_text(json.dumps({'camera': 'warm'}))
    protocol = {'data': [str(tmp_path / 'gta5'),
                         str(tmp_path / 'cityscapes')]}
    assert data_title(protocol) == 'the demo data, camera warm'
    assert data_title({'data': [str(tmp_path / 'other' / 'gta5')]}) == \
        'other'
    assert data_title(None) == 'the demo data'


def test_report_only_reports_the_records_and_trains_nothing(
        bench, tmp_path, monkeypatch):
    """--report-only: the report of a downstream.json's records for the
    chosen rows and seeds (its protocol, its FCN-score), records from an
    uncommitted state named under the table, and no training."""
    def no_training(*args, **kwargs):
        raise AssertionError('--report-only trained')

    monkeypatch.setattr(bench, 'train_segmenter', no_training)
    monkeypatch.setattr(bench, 'benchmark_data', no_training)
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    protocol = dict(iters=123, counts=dict(num_source=7, num_real_train=5,
                                           num_real_val=3),
                    data=['generated', 0])
    runs = {'source-only': {'0': dict(mIoU=10.0, commit=head),
                            '1': dict(mIoU=12.0, commit=head),
                            '2': dict(mIoU=99.0, commit=head)},
            'target-only': {'0': dict(mIoU=40.0, commit=head),
                            '1': dict(mIoU=42.0, commit=head)},
            'dakpn': {'0': dict(mIoU=30.0, commit='abc1234+dirty',
                                per_class=dict(road=80.0))},
            'adversarial': {'0': dict(mIoU=5.0, commit=head)}}
    fcn = {'synthetic': [dict(pxAcc=50.0, clsAcc=20.0, mIoU=10.0)]}
    records = tmp_path / 'records.json'
    records.write_text(json.dumps(dict(protocol=protocol, runs=runs,
                                       fcn_score=fcn)))
    out = tmp_path / 'report'
    assert bench.main(['--reuse', str(records), '--report-only', '--out',
                       str(out), '--methods',
                       'source-only,target-only,dakpn', '--seeds',
                       '0,1']) == 0
    md = (out / 'downstream.md').read_text()
    assert '| source-only | 11.00 +- 1.41 | 10.0, 12.0 | 0% |' in md
    assert '| target-only | 41.00 +- 1.41 | 40.0, 42.0 | 100% |' in md
    assert '| dakpn | 30.00 (one run) | 30.0 | 63% |' in md
    assert 'adversarial' not in md and '99.0' not in md
    assert '123 iterations' in md and '(3 images)' in md
    assert '| synthetic | 50.0 +- 0.0 | 20.0 +- 0.0 | 10.0 +- 0.0 |' in md
    assert "compared with today's" in md and \
        'dakpn seed 0 (abc1234+dirty)' in md
    assert 'source-only seed' not in md.split("today's")[-1] or \
        not bench.configs_unchanged_since(head, bench.row_configs(
            'source-only'))
    saved = json.loads((out / 'downstream.json').read_text())
    assert saved['protocol'] == protocol and saved['fcn_score'] == fcn
    assert (out / 'downstream.png').stat().st_size > 0
    with pytest.raises(SystemExit):  # nothing to report from
        bench.main(['--report-only', '--out', str(out)])
    with pytest.raises(SystemExit, match='no records'):
        bench.main(['--reuse', str(records), '--report-only', '--out',
                    str(out), '--methods', 'fda'])
    # A report into the folder of its own records would overwrite them.
    kept = records.read_text()
    records.rename(tmp_path / 'downstream.json')
    with pytest.raises(SystemExit):
        bench.main(['--reuse', str(tmp_path / 'downstream.json'),
                    '--report-only', '--out', str(tmp_path), '--methods',
                    'dakpn'])
    assert (tmp_path / 'downstream.json').read_text() == kept
