"""Training losses.

The pairwise losses in :data:`LOSSES` take ``positive`` of shape (batch,) and ``negative`` of
shape (batch, n_negatives). :func:`full_softmax_loss` scores a batch of users against every
item instead.
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


class _FullSoftmax(torch.autograd.Function):
    """Forward and backward of :func:`full_softmax_loss` over blocks of users, so that only a
    block x items score matrix exists at a time (the scores are recomputed backwards)."""

    @staticmethod
    def forward(ctx, users: torch.Tensor, items: torch.Tensor, rows: torch.Tensor,  # type: ignore[override]
                cols: torch.Tensor, temperature: float, block: int) -> torch.Tensor:
        counts = torch.bincount(rows, minlength=users.shape[0]).to(users.dtype)
        scaled = users / temperature
        log_normalizer = torch.empty(users.shape[0], dtype=users.dtype, device=users.device)
        for start in range(0, users.shape[0], block):
            end = start + block
            log_normalizer[start:end] = torch.logsumexp(scaled[start:end] @ items.t(), dim=1)
        positive = (scaled[rows] * items[cols]).sum()
        ctx.save_for_backward(scaled, items, rows, cols, counts, log_normalizer)
        ctx.temperature, ctx.block = temperature, block
        return ((counts * log_normalizer).sum() - positive) / rows.shape[0]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        scaled, items, rows, cols, counts, log_normalizer = ctx.saved_tensors
        weight = grad / rows.shape[0]
        grad_users = torch.empty_like(scaled)
        grad_items = torch.zeros_like(items)
        for start in range(0, scaled.shape[0], ctx.block):
            end = start + ctx.block
            # d/ds of count * logsumexp(s) is count * softmax(s).
            probabilities = torch.exp(scaled[start:end] @ items.t() - log_normalizer[start:end, None])
            probabilities *= (counts[start:end] * weight)[:, None]
            grad_users[start:end] = probabilities @ items
            grad_items.addmm_(probabilities.t(), scaled[start:end])
        grad_users.index_add_(0, rows, items[cols] * -weight)
        grad_items.index_add_(0, cols, scaled[rows] * -weight)
        return grad_users / ctx.temperature, grad_items, None, None, None, None


def full_softmax_loss(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    temperature: float = 0.2,
    block: int | None = None,
) -> torch.Tensor:
    """Full softmax (multinomial likelihood) over every item: the mean over the positive pairs
    ``(rows[j], cols[j])`` of ``logsumexp_i(s_ri / t) - s_rc / t``, with ``s = U I^T``.

    ``user_vectors`` (b x d) are a batch of users, ``item_vectors`` (n x d) every item; row
    ``r`` of the batch has one term per positive. Unlike sampled softmax there is no sampling
    noise and no bias to correct, and the users' positives share one normaliser, so an epoch
    costs ``n_users x n_items`` scores however many interactions there are. ``block`` users
    are scored at a time (memory ``block x n_items``; default about 16 MiB of scores on a CPU,
    where a block that stays in cache is faster, 256 MiB on a GPU).
    """
    if block is None:
        budget = 1 << 22 if item_vectors.device.type == "cpu" else 1 << 26
        block = max(1, budget // max(1, item_vectors.shape[0]))
    return _FullSoftmax.apply(user_vectors, item_vectors, rows, cols, temperature, block)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "bpr": bpr_loss,
    "infonce": infonce_loss,
    "bce": bce_loss,
}
