"""Training losses on the scores of a positive and sampled negatives.

Each takes ``positive`` of shape (batch,) and ``negative`` of shape (batch, n_negatives).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Bayesian personalised ranking: ``-mean(log sigmoid(s_pos - s_neg))`` over all negatives."""
    return -F.logsigmoid(positive.unsqueeze(1) - negative).mean()


def infonce_loss(
    positive: torch.Tensor, negative: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """Sampled softmax (InfoNCE): cross-entropy of the positive among itself and the negatives,
    scores divided by ``temperature``."""
    logits = torch.cat([positive.unsqueeze(1), negative], dim=1) / temperature
    return torch.logsumexp(logits, dim=1).sub(logits[:, 0]).mean()


def bce_loss(positive: torch.Tensor, negative: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy: positives towards 1, sampled negatives towards 0."""
    return -(F.logsigmoid(positive).mean() + F.logsigmoid(-negative).mean())


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "bpr": bpr_loss,
    "infonce": infonce_loss,
    "bce": bce_loss,
}
