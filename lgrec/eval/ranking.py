"""Full-ranking evaluation: every user is ranked against every item, seen items masked.

Users are processed in batches so that memory stays at ``batch_size x n_items`` scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from lgrec.eval.metrics import METRIC_FUNCTIONS, METRICS

log = logging.getLogger(__name__)

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps a 1-D tensor of user indices to a (len(users), n_items) score tensor."""


def dot_scorer(user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> ScoreFn:
    """Scores as the dot product of stored user and item vectors."""
    item_t = item_vectors.t().contiguous()

    def score(users: torch.Tensor) -> torch.Tensor:
        return user_vectors[users.to(user_vectors.device)] @ item_t

    return score


def mask_rows(scores: torch.Tensor, matrix: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set ``scores[i, j] = -inf`` for every stored entry (rows[i], j) of ``matrix``, in place."""
    sub = matrix[rows]
    if sub.nnz == 0:
        return
    row_index = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
    scores[torch.from_numpy(row_index).to(scores.device),
           torch.from_numpy(sub.indices.astype(np.int64)).to(scores.device)] = -torch.inf


def top_k(
    score_fn: ScoreFn,
    users: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices and scores for ``users``, skipping ``exclude``'s items per user."""
    indices, values = [], []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        with torch.no_grad():
            scores = score_fn(torch.from_numpy(batch).to(device)).float()
        if exclude is not None:
            mask_rows(scores, exclude, batch)
        kk = min(k, scores.shape[1])
        top = torch.topk(scores, kk, dim=1)
        indices.append(top.indices.cpu().numpy())
        values.append(top.values.cpu().numpy())
    if not indices:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(indices), np.concatenate(values)


@dataclass
class Evaluation:
    """Averages over the evaluated users plus bookkeeping."""

    metrics: dict[str, float]
    n_users: int
    seconds: float
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def users_per_second(self) -> float:
        return self.n_users / self.seconds if self.seconds > 0 else float("inf")


def evaluate_ranking(
    score_fn: ScoreFn,
    truth: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix | None = None,
    k: Sequence[int] = (10, 20),
    metrics: Sequence[str] = METRICS,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
    keep_per_user: bool = False,
    candidates: np.ndarray | None = None,
) -> Evaluation:
    """Full-ranking metrics averaged over users with at least one item in ``truth``.

    ``truth`` and ``exclude`` are users x items CSR matrices in the model's index space.
    ``candidates`` (item indices) restricts the ranking to a subset of items, e.g. cold items.
    """
    start_time = time.perf_counter()
    truth = truth.tocsr()
    n_relevant_all = np.diff(truth.indptr)
    users = np.flatnonzero(n_relevant_all > 0)
    k_max = max(k)
    if candidates is not None:
        allowed = np.zeros(truth.shape[1], dtype=bool)
        allowed[candidates] = True
        base_fn = score_fn

        def score_fn(batch: torch.Tensor) -> torch.Tensor:  # noqa: F811 - narrowed scorer
            scores = base_fn(batch)
            scores[:, torch.from_numpy(~allowed).to(scores.device)] = -torch.inf
            return scores

        truth = truth.multiply(sp.csr_matrix(allowed.astype(np.float32))).tocsr()
        truth.eliminate_zeros()
        n_relevant_all = np.diff(truth.indptr)
        users = np.flatnonzero(n_relevant_all > 0)
    top, _ = top_k(score_fn, users, k_max, exclude, batch_size, device)
    sub = truth[users]
    # Membership of each ranked item in the user's truth row, without densifying truth.
    row_offsets = np.repeat(np.arange(len(users)), top.shape[1]) * truth.shape[1]
    ranked_keys = row_offsets + top.ravel()
    truth_keys = np.repeat(np.arange(len(users)), np.diff(sub.indptr)) * truth.shape[1] + sub.indices
    hits = np.isin(ranked_keys, truth_keys).reshape(top.shape)
    if hits.shape[1] < k_max:  # fewer items than k: pad with misses
        hits = np.pad(hits, ((0, 0), (0, k_max - hits.shape[1])))
    n_relevant = n_relevant_all[users]
    out: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for cutoff in k:
        for name in metrics:
            values = METRIC_FUNCTIONS[name](hits, n_relevant, cutoff)
            out[f"{name}@{cutoff}"] = float(values.mean()) if len(values) else 0.0
            if keep_per_user:
                per_user[f"{name}@{cutoff}"] = values
    seconds = time.perf_counter() - start_time
    log.debug("evaluated %d users in %.2fs", len(users), seconds)
    return Evaluation(out, len(users), seconds, per_user)
