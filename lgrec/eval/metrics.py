"""Top-K ranking metrics from a hit matrix.

``hits`` is a boolean array (users x K_max): ``hits[u, r]`` is true when the item ranked at
position ``r`` (0-based) for user ``u`` is relevant. ``n_relevant[u]`` is how many relevant
items the user has in total. Every function returns one value per user; averages over users
are taken by the caller. Definitions follow RecBole's, so numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map")


def _check(hits: np.ndarray, k: int) -> np.ndarray:
    if k < 1 or k > hits.shape[1]:
        raise ValueError(f"k={k} outside 1..{hits.shape[1]}")
    return hits[:, :k].astype(np.float64)


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Share of the user's relevant items found in the top k."""
    return _check(hits, k).sum(axis=1) / np.maximum(n_relevant, 1)


def precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Share of the top k that is relevant."""
    return _check(hits, k).sum(axis=1) / k


def hit(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one relevant item is in the top k."""
    return (_check(hits, k).sum(axis=1) > 0).astype(np.float64)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG of the top k with binary gains over the DCG of an ideal list of min(n_rel, k) hits."""
    h = _check(hits, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = h @ discounts
    ideal = np.cumsum(discounts)[np.clip(n_relevant, 1, k) - 1]
    return dcg / ideal


def mrr(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal rank of the first relevant item in the top k (0 if none)."""
    h = _check(hits, k)
    first = h.argmax(axis=1)
    found = h.max(axis=1) > 0
    return np.where(found, 1.0 / (first + 1), 0.0)


def average_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """MAP@k: mean of precision@r over the ranks r of hits, divided by min(n_rel, k)."""
    h = _check(hits, k)
    precision_at = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    return (precision_at * h).sum(axis=1) / np.minimum(np.maximum(n_relevant, 1), k)


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "recall": recall,
    "ndcg": ndcg,
    "precision": precision,
    "hit": hit,
    "mrr": mrr,
    "map": average_precision,
}


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``."""
    metric, _, k = name.lower().partition("@")
    if metric not in METRIC_FUNCTIONS or not k.isdigit():
        raise ValueError(f"metric must look like 'ndcg@10' with one of {', '.join(METRICS)}")
    return metric, int(k)
