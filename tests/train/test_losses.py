"""Known answers for the losses."""

import math

import pytest
import torch

from lgrec.train import losses
from lgrec.train.losses import (
    bce_loss,
    bpr_loss,
    full_softmax_loss,
    gather_rows,
    infonce_loss,
)


def test_bpr():
    pos, neg = torch.tensor([2.0]), torch.tensor([[1.0, 2.0]])
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected)


def test_infonce():
    pos, neg = torch.tensor([1.0]), torch.tensor([[0.0, 0.5]])
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 1 + math.exp(0.5 / t)))
    assert infonce_loss(pos, neg, t).item() == pytest.approx(expected, rel=1e-6)


def test_bce():
    pos, neg = torch.tensor([0.0]), torch.tensor([[0.0]])
    assert bce_loss(pos, neg).item() == pytest.approx(2 * math.log(2))


def test_full_softmax_by_hand():
    users = torch.tensor([[1.0, 0.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    t = 0.5
    normaliser = math.log(math.exp(2.0) + 2)
    expected = ((normaliser - 2.0) + normaliser) / 2  # positives: items 0 and 2
    loss = full_softmax_loss(users, items, torch.tensor([0, 0]), torch.tensor([0, 2]), t)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("buffer_bytes", [losses.PROBABILITY_BUFFER_BYTES, 600, 1])
@pytest.mark.parametrize("block", [1, 3, 64])
def test_full_softmax_matches_autograd_of_the_direct_formula(block, buffer_bytes, monkeypatch):
    # 600 bytes hold two blocks of 3 users' float64 probabilities over 11 items: groups of two
    # blocks, the last one short; 1 byte gives groups of one block.
    monkeypatch.setattr(losses, "PROBABILITY_BUFFER_BYTES", buffer_bytes)
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(7, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    items = torch.randn(11, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    rows = torch.tensor([0, 0, 1, 3, 3, 3, 6])  # users 2, 4 and 5 have no positive
    cols = torch.tensor([1, 5, 0, 2, 7, 10, 4])
    t = 0.3
    logits = users @ items.t() / t
    direct = (torch.logsumexp(logits, 1)[rows] - logits[rows, cols]).mean()
    expected = torch.autograd.grad(direct, [users, items])
    loss = full_softmax_loss(users, items, rows, cols, t, block=block)
    got = torch.autograd.grad(loss, [users, items])
    assert loss.item() == pytest.approx(direct.item(), rel=1e-12)
    for g, e in zip(got, expected, strict=True):
        assert torch.allclose(g, e, atol=1e-12)


def test_full_softmax_heads_sum_the_loss_of_each_block_of_dimensions():
    generator = torch.Generator().manual_seed(3)
    users = torch.randn(5, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    items = torch.randn(8, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    rows, cols = torch.tensor([0, 1, 1, 4]), torch.tensor([2, 0, 7, 5])
    direct = sum(
        (torch.logsumexp(logits, 1)[rows] - logits[rows, cols]).mean()
        for logits in (users[:, h:h + 2] @ items[:, h:h + 2].t() / 0.3 for h in (0, 2, 4)))
    expected = torch.autograd.grad(direct, [users, items])
    loss = full_softmax_loss(users, items, rows, cols, 0.3, block=2, heads=3)
    got = torch.autograd.grad(loss, [users, items])
    assert loss.item() == pytest.approx(direct.item(), rel=1e-12)
    for g, e in zip(got, expected, strict=True):
        assert torch.allclose(g, e, atol=1e-12)
    with pytest.raises(ValueError, match="divisor"):
        full_softmax_loss(users, items, rows, cols, 0.3, heads=4)


def test_full_softmax_row_weights_give_the_weighted_mean_over_pairs():
    generator = torch.Generator().manual_seed(5)
    users = torch.randn(4, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    items = torch.randn(7, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    rows, cols = torch.tensor([0, 0, 0, 2, 3, 3]), torch.tensor([1, 4, 6, 0, 2, 5])
    weights = torch.tensor([0.5, 9.0, 2.0, 1.5], dtype=torch.float64)
    logits = users @ items.t() / 0.25
    per_pair = torch.logsumexp(logits, 1)[rows] - logits[rows, cols]
    direct = (per_pair * weights[rows]).sum() / weights[rows].sum()
    expected = torch.autograd.grad(direct, [users, items])
    for block in (1, 3, 4):
        loss = full_softmax_loss(users, items, rows, cols, 0.25, block=block,
                                 row_weights=weights)
        got = torch.autograd.grad(loss, [users, items])
        assert loss.item() == pytest.approx(direct.item(), rel=1e-12)
        for g, e in zip(got, expected, strict=True):
            assert torch.allclose(g, e, atol=1e-12)
    # Equal weights are the plain mean.
    plain = full_softmax_loss(users, items, rows, cols, 0.25)
    same = full_softmax_loss(users, items, rows, cols, 0.25,
                             row_weights=torch.full((4,), 3.0, dtype=torch.float64))
    assert same.item() == pytest.approx(plain.item(), rel=1e-12)
    with pytest.raises(ValueError, match="one weight per row"):
        full_softmax_loss(users, items, rows, cols, 0.25, row_weights=weights[:3])


@pytest.mark.parametrize("weighted_rows", [False, True])
def test_full_softmax_normalizer_weight_scales_the_logsumexp_term(weighted_rows):
    generator = torch.Generator().manual_seed(6)
    users = torch.randn(4, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    items = torch.randn(7, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    rows, cols = torch.tensor([0, 0, 1, 3, 3, 3]), torch.tensor([1, 4, 6, 0, 2, 5])
    weights = torch.tensor([2.0, 0.5, 1.0, 0.25], dtype=torch.float64)
    pair_weights = weights[rows] if weighted_rows else torch.ones(len(rows), dtype=torch.float64)
    logits = users @ items.t() / 0.2
    per_pair = 0.8 * torch.logsumexp(logits, 1)[rows] - logits[rows, cols]
    direct = (per_pair * pair_weights).sum() / pair_weights.sum()
    expected = torch.autograd.grad(direct, [users, items])
    loss = full_softmax_loss(users, items, rows, cols, 0.2, block=3, normalizer_weight=0.8,
                             row_weights=weights if weighted_rows else None)
    got = torch.autograd.grad(loss, [users, items])
    assert loss.item() == pytest.approx(direct.item(), rel=1e-12)
    for g, e in zip(got, expected, strict=True):
        assert torch.allclose(g, e, atol=1e-12)


def test_full_softmax_without_gradient_gives_the_same_loss():
    generator = torch.Generator().manual_seed(1)
    users = torch.randn(9, 5, generator=generator)
    items = torch.randn(13, 5, generator=generator)
    rows, cols = torch.tensor([0, 2, 2, 8]), torch.tensor([3, 0, 12, 7])
    with_grad = full_softmax_loss(users.requires_grad_(), items, rows, cols, 0.2, block=4)
    with torch.no_grad():
        without = full_softmax_loss(users, items, rows, cols, 0.2, block=4)
    assert without.item() == pytest.approx(with_grad.item(), rel=1e-6)


def test_full_softmax_in_bfloat16_stays_close_to_float32():
    generator = torch.Generator().manual_seed(2)
    users = (0.3 * torch.randn(64, 32, generator=generator)).requires_grad_()
    items = (0.3 * torch.randn(500, 32, generator=generator)).requires_grad_()
    rows = torch.randint(0, 64, (400,), generator=generator)
    cols = torch.randint(0, 500, (400,), generator=generator)
    exact = full_softmax_loss(users, items, rows, cols, 0.2)
    exact_grads = torch.autograd.grad(exact, [users, items])
    low = full_softmax_loss(users, items, rows, cols, 0.2, precision="bfloat16")
    low_grads = torch.autograd.grad(low, [users, items])
    assert low.item() == pytest.approx(exact.item(), rel=1e-2)
    for g, e in zip(low_grads, exact_grads, strict=True):
        assert ((g - e).norm() / e.norm()).item() < 0.05
    with pytest.raises(ValueError, match="precision"):
        full_softmax_loss(users, items, rows, cols, 0.2, precision="half")


@pytest.mark.parametrize("shape", [(7,), (5, 3)])
def test_gather_rows_gradient_adds_each_rows_contributions(shape):
    table = torch.arange(12.0).reshape(4, 3).requires_grad_(True)
    index = torch.tensor([2, 0, 2, 3, 2, 0, 1, 2, 3, 0, 0, 1, 2, 3, 1])[: math.prod(shape)]
    index = index.reshape(shape)
    weights = torch.arange(1.0, 1.0 + math.prod(shape) * 3).reshape(*shape, 3)
    rows = gather_rows(table, index)
    assert torch.equal(rows, table.detach()[index])
    (rows * weights).sum().backward()
    # Row r's gradient is the sum of the weights at the positions that read row r.
    flat_index, flat_weights = index.reshape(-1), weights.reshape(-1, 3)
    expected = torch.stack([flat_weights[flat_index == r].sum(0) for r in range(4)])
    assert torch.equal(table.grad, expected)


def test_gather_rows_gradient_is_the_same_on_every_run():
    # Indexing's own backward (index_put_ with accumulate) adds in a different order from run
    # to run with several threads; gather_rows's must not.
    torch.manual_seed(0)
    table = torch.randn(3000, 64, requires_grad=True)
    index = torch.randint(0, 3000, (20000,))
    weights = torch.randn(20000, 64)
    grads = set()
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 4, 2, 1):
            torch.set_num_threads(n)
            table.grad = None
            (gather_rows(table, index) * weights).sum().backward()
            grads.add(table.grad.numpy().tobytes())
    finally:
        torch.set_num_threads(threads)
    assert len(grads) == 1
