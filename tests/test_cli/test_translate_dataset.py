"""Offline translation tool: layout kept, labels untouched, atomic and
resumable, sharding covers every file exactly once."""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dakpn_aug import DAKPNTranslator
from dakpn_aug.data.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(ROOT / 'tools' / 'translate_dataset.py')]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('offline')
    make_demo_data(root / 'data', seed=4, num_source=10, num_real_train=2,
                   num_real_val=2, source_size=(64, 96), real_size=(64, 128))
    torch.manual_seed(0)
    tr = DAKPNTranslator.build('fcn_tiny')
    with torch.no_grad():
        tr.kpn.conv.bias.copy_(torch.tensor(
            [0, -.3, -.1, 0, 0, .02, 1.0, 1.0, 1.0, .05, .05, .05]))
    bundle = root / 'bundle.pth'
    tr.save(bundle)
    return root, bundle


def run(args, check=True):
    res = subprocess.run(TOOL + [str(a) for a in args], capture_output=True,
                         text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def listing(folder: Path):
    """Every path below ``folder`` except the tool's own state folder."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*')
                  if '.dakpn_translate' not in p.parts)


def test_translates_everything_keeps_names_and_labels(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    before = {p: p.read_bytes() for p in src.rglob('*') if p.is_file()}
    out = tmp_path / 'out'
    res = run([bundle, src, out, '--labels', 'copy', '--batch-size', '3'])
    assert '10 translated, 0 skipped' in res.stdout
    assert 'MultiScaleDeformableAttention' not in res.stderr  # cli
    assert listing(out) == listing(src)
    for p in (src / 'labels').iterdir():
        assert (out / 'labels' / p.name).read_bytes() == p.read_bytes()
    # Same pixels as translating in Python with the bundle.
    tr = DAKPNTranslator.from_checkpoint(bundle)
    name = '00003.png'
    rgb = cv2.cvtColor(cv2.imread(str(src / 'images' / name)),
                       cv2.COLOR_BGR2RGB)
    got = cv2.cvtColor(cv2.imread(str(out / 'images' / name)),
                       cv2.COLOR_BGR2RGB)
    assert np.array_equal(got, tr(rgb))
    assert not np.array_equal(got, rgb)
    # The source is untouched.
    assert {p: p.read_bytes() for p in src.rglob('*') if p.is_file()} == \
        before


def test_labels_link_and_cityscapes_layout(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'cityscapes'
    out = tmp_path / 'cs'
    run([bundle, src, out, '--labels', 'link'])
    imgs = sorted((out / 'leftImg8bit').rglob('*_leftImg8bit.png'))
    assert len(imgs) == 4
    lbl = next((out / 'gtFine').rglob('*_gtFine_labelIds.png'))
    assert lbl.is_symlink()
    assert lbl.resolve().is_relative_to(src.resolve())


def test_rerun_skips_finished_and_resumes_after_a_kill(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'out'
    proc = subprocess.Popen(TOOL + [str(bundle), str(src), str(out),
                                    '--batch-size', '1', '--workers', '0'],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / 'images').is_dir() and any(
                p.suffix == '.png' and not p.name.startswith('.')
                for p in (out / 'images').iterdir()):
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    # Whatever is visible is complete.
    for p in (out / 'images').glob('[!.]*.png'):
        assert cv2.imread(str(p)) is not None, p
    done_before = len(list((out / 'images').glob('[!.]*.png')))
    res = run([bundle, src, out])
    assert f'{done_before} already done' in res.stdout
    assert len(list((out / 'images').glob('[!.]*.png'))) == 10
    res = run([bundle, src, out])
    assert '0 translated, 10 skipped' in res.stdout


def test_refuses_to_write_into_the_source(setup):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    before = listing(src)
    # As a process: a non-zero exit and the reason on stderr.
    res = run([bundle, src, src / 'translated'], check=False)
    assert res.returncode != 0 and 'inside it' in res.stderr
    # The rest in this process (the checks come before any work).
    main = load_tool().main

    def refusal(*argv) -> str:
        with pytest.raises(SystemExit) as err:
            main([str(a) for a in argv])
        return str(err.value.code)

    for out in (src, src / 'images'):
        assert 'inside it' in refusal(bundle, src, out)
    # The other way round: OUT a parent of SRC.
    for out in (src.parent, src.parent.parent):
        assert 'inside OUT_DIR' in refusal(bundle, src, out)
    assert listing(src) == before
    assert 'does not exist' in refusal(bundle, root / 'missing', root / 'o')
    msg = refusal(root / 'nope.pth', src, root / 'o2')
    assert 'nope.pth' in msg and 'does not exist' in msg


def test_two_shard_processes_cover_every_file_exactly_once(setup, tmp_path):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'sharded'
    procs = [subprocess.Popen(TOOL + [str(bundle), str(src), str(out),
                                      '--shard', f'{i}/2', '--workers', '0'],
                              stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL) for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert '5 translated' in outs[0] and '5 translated' in outs[1]
    assert len(list((out / 'images').glob('*.png'))) == 10


def test_torchrun_launcher_shards_by_rank(setup, tmp_path):
    root, bundle = setup
    torchrun = Path(sys.executable).with_name('torchrun')
    out = tmp_path / 'ddp'
    res = subprocess.run([str(torchrun), '--standalone', '--nproc_per_node=2',
                          str(ROOT / 'tools' / 'translate_dataset.py'),
                          str(bundle), str(root / 'data' / 'gta5'), str(out),
                          '--launcher', 'pytorch', '--workers', '0'],
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count('5 translated') == 2
    assert len(list((out / 'images').glob('*.png'))) == 10


def load_tool():
    from dakpn_aug.cli import translate_dataset
    return translate_dataset


def test_full_disk_leaves_nothing_half_written_and_rerun_finishes(
        setup, tmp_path, monkeypatch, capsys):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'full'
    tool = load_tool()
    real_write = tool.write_bytes_synced
    calls = []

    def disk_fills_up(path, data):
        calls.append(path)
        if len(calls) == 5:  # bundle.json + 3 images, then the disk is full
            with open(path, 'wb') as f:
                f.write(data[:len(data) // 3])
            raise OSError(28, 'No space left on device')
        real_write(path, data)

    monkeypatch.setattr(tool, 'write_bytes_synced', disk_fills_up)
    with pytest.raises(SystemExit) as info:
        tool.main([str(bundle), str(src), str(out), '--workers', '0',
                   '--batch-size', '1'])
    assert 'No space left on device' in str(info.value)
    assert 'cannot write' in str(info.value)
    written = list((out / 'images').iterdir())
    assert all(not p.name.startswith('.') for p in written)  # no temp files
    assert len(written) == 3
    for p in written:
        assert cv2.imread(str(p)) is not None
    # A truncated file that appeared by other means is not "done".
    victim = written[0]
    victim.write_bytes(victim.read_bytes()[:50])
    monkeypatch.setattr(tool, 'write_bytes_synced', real_write)
    capsys.readouterr()
    assert tool.main([str(bundle), str(src), str(out), '--workers', '0']) \
        == 0
    assert '2 already done, 8 to translate' in capsys.readouterr().out
    assert len(list((out / 'images').glob('*.png'))) == 10
    assert all(cv2.imread(str(p)) is not None
               for p in (out / 'images').glob('*.png'))


def test_rerun_with_another_bundle_is_refused_unless_overwrite(setup,
                                                               tmp_path,
                                                               capsys):
    root, bundle = setup
    src = root / 'data' / 'gta5'
    out = tmp_path / 'two'
    main = load_tool().main

    def tool(*argv):  # in this process: (exit code, stdout, stderr)
        try:
            code = main([str(a) for a in (*argv, '--workers', '0')])
        except SystemExit as e:
            code = e.code
        res = capsys.readouterr()
        return code, res.out, res.err + ('' if isinstance(code, int)
                                         else str(code))

    assert tool(bundle, src, out)[0] == 0
    tr = DAKPNTranslator.from_checkpoint(bundle)
    with torch.no_grad():
        tr.kpn.conv.bias[1] += 0.3
    other = tr.save(tmp_path / 'other.pth')
    before = {p.name: p.read_bytes() for p in (out / 'images').iterdir()}
    code, _, err = tool(other, src, out)
    assert code != 0
    assert 'another bundle' in err and str(bundle) in err \
        and str(other) in err
    assert {p.name: p.read_bytes()
            for p in (out / 'images').iterdir()} == before
    code, stdout, _ = tool(other, src, out, '--overwrite')
    assert code == 0 and '10 translated, 0 skipped' in stdout
    assert '0 translated, 10 skipped' in tool(other, src, out)[1]
    # Another encoder precision makes other images: refused the same way.
    code, _, err = tool(other, src, out, '--encoder-dtype', 'bfloat16')
    assert code != 0 and 'another bundle' in err


def test_float_images_keep_the_float_rule(setup, tmp_path, capsys):
    root, bundle = setup
    src = tmp_path / 'floats'
    src.mkdir()
    bgr = cv2.imread(str(root / 'data' / 'gta5' / 'images' / '00001.png'))
    unit = bgr.astype(np.float32) / 255
    assert cv2.imwrite(str(src / 'unit.tiff'), unit)
    assert cv2.imwrite(str(src / 'wide.tiff'), unit * 255)  # 0..255 floats
    out = tmp_path / 'fout'
    # In this process (no workers): one image refused, one translated.
    assert load_tool().main([str(a) for a in (bundle, src, out,
                                               '--workers', '0')]) == 1
    err = capsys.readouterr().err
    assert 'wide.tiff' in err and 'divide 0..255' in err
    got = cv2.imread(str(out / 'unit.tiff'), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.float32 and got.shape == unit.shape
    assert 0.0 <= got.min() and got.max() <= 1.0
    tr = DAKPNTranslator.from_checkpoint(bundle)
    expected = tr(np.ascontiguousarray(unit[..., ::-1]))[..., ::-1]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not (out / 'wide.tiff').exists()


@pytest.mark.parametrize('args, message', [
    (['--workers', '-1'], 'must be >= 0'),
    (['--batch-size', '0'], 'must be >= 1'),
])
def test_bad_arguments_one_clear_error(setup, tmp_path, args, message,
                                      tool_error):
    root, bundle = setup
    assert message in tool_error(load_tool().main, [
        bundle, root / 'data' / 'gta5', tmp_path / 'o'] + args)


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
def test_cuda_device_without_cuda_is_one_clear_error(setup, tmp_path,
                                                     tool_error):
    root, bundle = setup
    assert 'CUDA is not available' in tool_error(load_tool().main, [
        bundle, root / 'data' / 'gta5', tmp_path / 'o', '--device', 'cuda'])


def test_unwritable_out_is_one_clear_error(setup, tmp_path, tool_error):
    """An OUT that cannot be created (here: below a regular file; a
    read-only folder behaves the same for non-root users, root ignores the
    permission bits) is one line, nothing written anywhere."""
    root, bundle = setup
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    assert 'cannot write into OUT_DIR' in tool_error(load_tool().main, [
        bundle, root / 'data' / 'gta5', blocker / 'out'])


def test_label_maps_guide_the_translation_unless_switched_off(setup,
                                                             tmp_path,
                                                             tool_error):
    """A labelled layout's label maps (label ids -> train ids) guide each
    image, as ``translator(image, labels=...)`` does; with
    ``--no-label-guidance`` the images are translated alone, and the two
    kinds of output are never mixed on resume."""
    from dakpn_aug.data.cityscapes_labels import label_ids_to_train_ids
    root, _ = setup
    torch.manual_seed(1)
    tr = DAKPNTranslator.build('fcn_tiny', noise='none')
    with torch.no_grad():  # class-dependent colour: guidance matters
        torch.nn.init.normal_(tr.kpn.conv.weight, std=0.05)
    bundle = tmp_path / 'classy.pth'
    tr.save(bundle)
    src = root / 'data' / 'gta5'
    guided, alone = tmp_path / 'guided', tmp_path / 'alone'
    run([bundle, src, guided])
    run([bundle, src, alone, '--no-label-guidance'])
    changed = 0
    for name in ('00002.png', '00007.png'):
        rgb = cv2.cvtColor(cv2.imread(str(src / 'images' / name)),
                           cv2.COLOR_BGR2RGB)
        labels = label_ids_to_train_ids(cv2.imread(
            str(src / 'labels' / name), cv2.IMREAD_UNCHANGED))
        got = cv2.cvtColor(cv2.imread(str(guided / 'images' / name)),
                           cv2.COLOR_BGR2RGB)
        plain = cv2.cvtColor(cv2.imread(str(alone / 'images' / name)),
                             cv2.COLOR_BGR2RGB)
        assert np.array_equal(got, tr(rgb, labels=labels))
        assert np.array_equal(plain, tr(rgb))
        changed += not np.array_equal(got, plain)
    assert changed
    # Resuming the guided run without guidance would mix: it is refused.
    assert 'another' in tool_error(load_tool().main, [
        bundle, src, guided, '--no-label-guidance'])


def test_facesynthetics_layout_translates_images_and_keeps_seg_maps(
        tmp_path):
    """FaceSynthetics keeps X_seg.png beside X.png: the label maps are not
    images to translate; they are copied on request and guide their
    images (mapped to the shared face classes)."""
    from dakpn_aug.data.face_labels import facesynthetics_to_face
    src = tmp_path / 'faces'
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(src / f'{i:06d}.png'),
                    rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        cv2.imwrite(str(src / f'{i:06d}_seg.png'),
                    rng.integers(0, 19, (48, 64), dtype=np.uint8))
    torch.manual_seed(2)
    tr = DAKPNTranslator.build('fcn_tiny', noise='none')
    with torch.no_grad():
        torch.nn.init.normal_(tr.kpn.conv.weight, std=0.05)
    bundle = tmp_path / 'faces.pth'
    tr.save(bundle)
    out = tmp_path / 'out'
    res = run([bundle, src, out, '--labels', 'copy'])
    assert '3 translated, 0 skipped (already done), 0 failed, 3 labels' in \
        res.stdout
    assert listing(out) == listing(src)
    for i in range(3):
        seg = src / f'{i:06d}_seg.png'
        assert (out / seg.name).read_bytes() == seg.read_bytes()
    rgb = cv2.cvtColor(cv2.imread(str(src / '000001.png')),
                       cv2.COLOR_BGR2RGB)
    labels = facesynthetics_to_face(cv2.imread(
        str(src / '000001_seg.png'), cv2.IMREAD_UNCHANGED))
    got = cv2.cvtColor(cv2.imread(str(out / '000001.png')),
                       cv2.COLOR_BGR2RGB)
    assert np.array_equal(got, tr(rgb, labels=labels))
    assert not np.array_equal(got, tr(rgb))  # the labels did guide it
