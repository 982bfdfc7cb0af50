"""Training losses on (user, positive, negative) scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``-mean(log sigmoid(s_pos - s_neg))``."""
    return -F.logsigmoid(positive - negative).mean()


LOSSES = {"bpr": bpr_loss}
