"""Global then local adversarial alignment: the local discriminator judges
each pixel alone, the mixture module mixes by source classes and drops
unreliable source pixels, and the config's schedule switches from the
global step to the local one."""
import copy
import sys
from pathlib import Path

import pytest
import torch

import dakpn_aug  # noqa: F401
from dakpn_aug.uda.methods.local_adversarial import (LocalDiscriminator,
                                                     mixture,
                                                     reliable_source_pixels)

sys.path.insert(0, str(Path(__file__).parent))


def test_local_discriminator_judges_each_pixel_alone():
    d = LocalDiscriminator(5, 8)
    x = torch.rand(1, 5, 6, 7)
    y = x.clone()
    y[0, :, 2, 3] = torch.rand(5)
    diff = (d(x) - d(y)).abs()[0, 0] > 0
    assert diff[2, 3] and diff.sum() == 1


def test_reliable_source_pixels():
    logits = torch.zeros(1, 3, 1, 4)
    logits[0, 0, 0, :] = 1.0  # predicts class 0 everywhere
    labels = torch.tensor([[[0, 1, 255, 0]]])
    assert reliable_source_pixels(logits, labels).tolist() == [[[1, 0, 0, 1]]]


def test_mixture_module():
    src = torch.full((1, 2, 2, 2), 0.25)
    tgt = torch.full((1, 2, 2, 2), 0.75)
    mask = torch.tensor([[[True, False], [True, True]]])
    reliable = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])
    mixed, domain, weight = mixture(src, tgt, mask, reliable)
    assert torch.equal(mixed[0, :, 0, 1], torch.full((2,), 0.75))
    assert torch.equal(mixed[0, :, 1, 0], torch.full((2,), 0.25))
    assert domain.tolist() == [[[0.0, 1.0], [0.0, 0.0]]]  # 0 = source
    # Unreliable source pixel (1, 0) drops out; target pixels all count.
    assert weight.tolist() == [[[1.0, 1.0], [0.0, 1.0]]]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from test_framework import batch_of, build, load_cfg

    from dakpn_aug.data.demo import make_demo_data
    root = tmp_path_factory.mktemp('gl')
    make_demo_data(root, seed=2, num_source=4, num_real_train=2,
                   num_real_val=1, source_size=(96, 160),
                   real_size=(96, 160))
    cfg = load_cfg('fcn_tiny_demo-global-local.py', root)
    cfg.model.methods[0].base_channels = 8
    model, optim, ds = build(cfg)
    return model, optim, batch_of(ds, [0, 1])


def test_schedule_switches_from_global_to_local(setup):
    model, optim, batch = setup
    model.local_iter.fill_(199)
    log = model.train_step(copy.deepcopy(batch), optim)
    assert 'loss_discriminator' in log and 'loss_discriminator_d' in log
    assert not any('local' in k for k in log)
    local_before = copy.deepcopy(model.local_discriminator.state_dict())
    log = model.train_step(copy.deepcopy(batch), optim)  # iteration 200
    assert 'loss_local_discriminator' in log
    assert 'loss_local_discriminator_d' in log
    assert not any(k.startswith('loss_discriminator') for k in log)
    assert any(not torch.equal(local_before[k], v) for k, v in
               model.local_discriminator.state_dict().items())


def test_local_discriminator_learns_the_mixture(setup):
    model, optim, batch = setup
    model.local_iter.fill_(300)
    optim['local_discriminator'].optimizer.param_groups[0]['lr'] = 1e-2
    losses = [float(model.train_step(copy.deepcopy(batch), optim)
                    ['loss_local_discriminator_d']) for _ in range(5)]
    assert min(losses[-2:]) < losses[0]
