"""Pixel-level cycle association: on hand-made features where the right
association is known, the kept cycles are exactly those, and the loss falls
when associated features move together."""
import pytest
import torch

import dakpn_aug  # noqa: F401
from dakpn_aug.uda.methods.cycle_association import (
    PixelCycleAssociation, aggregate_target, cycle_association_loss,
    cycle_associations, nearest, pairwise_similarity)


def unit(*angles):
    a = torch.tensor(angles, dtype=torch.float64)
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def test_kept_cycles_are_exactly_the_label_consistent_ones():
    # Source: two pixels of class 0 near angle 0, two of class 1 near 90
    # degrees, one class-1 pixel lying in the class-0 cluster (a cycle from
    # it returns to a class-0 pixel: not kept), one ignored pixel.
    src = unit(0.00, 0.10, 1.50, 1.60, 0.05, 1.55)
    labels = torch.tensor([0, 0, 1, 1, 1, 255])
    tgt = unit(0.02, 1.57)
    j, k, kept = cycle_associations(src, tgt, labels)
    assert j.tolist() == [0, 0, 1, 1, 0, 1]
    # target 0 (angle 0.02) is nearest to source 0 (0.00); target 1 (1.57)
    # to source 5 (1.55) -- the ignored one -- so cycles through target 1
    # end at source 5.
    assert k.tolist() == [0, 0, 5, 5, 0, 5]
    assert kept.tolist() == [True, True, False, False, False, False]


def test_kept_cycles_through_a_labelled_return():
    src = unit(0.00, 0.10, 1.50, 1.60, 0.05)
    labels = torch.tensor([0, 0, 1, 1, 1])
    tgt = unit(0.02, 1.57)
    _, k, kept = cycle_associations(src, tgt, labels)
    assert k.tolist() == [0, 0, 3, 3, 0]
    assert kept.tolist() == [True, True, True, True, False]


def test_nearest_is_the_same_in_chunks():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    assert torch.equal(nearest(a, b, 'cosine', chunk=7),
                       nearest(a, b, 'cosine', chunk=4096))
    loss_a, _ = cycle_association_loss(a, b, torch.zeros(50).long(),
                                       chunk=7)
    loss_b, _ = cycle_association_loss(a, b, torch.zeros(50).long())
    torch.testing.assert_close(loss_a, loss_b)


def test_loss_falls_when_associated_features_move_together():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(40, 6, generator=g)
    tgt = torch.randn(30, 6, generator=g)
    labels = torch.randint(0, 3, (40,), generator=g)
    j, _, kept = cycle_associations(src, tgt, labels)
    before, _ = cycle_association_loss(src, tgt, labels)
    moved = tgt.clone()
    # Pull each associated target pixel halfway towards its source pixel.
    for i in kept.nonzero()[:, 0].tolist():
        moved[j[i]] = 0.5 * (moved[j[i]] + src[i])
    after, _ = cycle_association_loss(src, moved, labels)
    assert after < before
    # And gradient descent on the loss lowers it.
    x = tgt.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.5)
    first = None
    for _ in range(20):
        loss, _ = cycle_association_loss(src, x, labels)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_negative_kl_similarity_peaks_at_the_same_distribution():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    sim = pairwise_similarity(logits, logits, 'neg_kl')
    torch.testing.assert_close(sim.diagonal(), torch.zeros(2))
    assert (sim.diagonal()[:, None] >= sim).all()


def test_target_aggregation():
    x = torch.eye(3)
    assert torch.equal(aggregate_target(x, 0.0, 'cosine'), x)
    y = aggregate_target(x, 0.5, 'cosine')
    torch.testing.assert_close(y.sum(dim=1), torch.ones(3))
    assert (y.diagonal() > 0.5).all()


def test_no_kept_cycle_gives_a_zero_loss_with_gradients():
    src = unit(0.0, 0.1).float().requires_grad_(True)
    loss, share = cycle_association_loss(src, unit(0.0).float(),
                                         torch.tensor([255, 255]))
    assert loss.item() == 0.0 and share.item() == 0.0
    loss.backward()  # still part of the graph


def test_method_checks_its_arguments():
    with pytest.raises(ValueError, match='level'):
        PixelCycleAssociation(level='pixels')
    m = PixelCycleAssociation(level='logits', name_suffix='_cls')
    assert m.key == 'plca_logits_cls' and m.kind == 'neg_kl'


def test_plca_trains_inside_the_uda_segmentor(tmp_path):
    """Both levels of the demo config add finite losses to a real step and
    change the segmenter's weights."""
    import copy
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_framework import batch_of, build, load_cfg

    from dakpn_aug.data.demo import make_demo_data
    make_demo_data(tmp_path, seed=2, num_source=4, num_real_train=2,
                   num_real_val=1, source_size=(96, 160),
                   real_size=(96, 160))
    cfg = load_cfg('fcn_tiny_demo-cycle-association.py', tmp_path)
    model, optim, ds = build(cfg)
    before = copy.deepcopy(model.model.state_dict())
    log = model.train_step(batch_of(ds, [0, 1]), optim)
    for key in ('loss_plca_features', 'loss_plca_logits',
                'loss_plca_features_entropy'):
        assert torch.isfinite(log[key]) and log[key] > 0, key
    assert 0.0 <= float(log['plca_features_kept']) <= 1.0
    assert any(not torch.equal(before[k], v)
               for k, v in model.model.state_dict().items())
