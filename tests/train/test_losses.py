"""Known answers for the losses."""

import math

import pytest
import torch

from lgrec.train.losses import bce_loss, bpr_loss, infonce_loss


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
