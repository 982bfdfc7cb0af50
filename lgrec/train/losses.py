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


def view_contrast_loss(
    anchor: torch.Tensor, view: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """InfoNCE between two views of the same nodes (SimGCL/XSimGCL): row ``i`` of ``anchor``
    must be closer (cosine / ``temperature``) to row ``i`` of ``view`` than to every other row."""
    a = F.normalize(anchor, dim=-1)
    b = F.normalize(view, dim=-1)
    logits = a @ b.t() / temperature
    return torch.logsumexp(logits, dim=1).sub(logits.diagonal()).mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "bpr": bpr_loss,
    "infonce": infonce_loss,
    "bce": bce_loss,
}
