"""Negative sampling for pairwise losses."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class UniformSampler:
    """Each epoch: every training interaction once, in random order, with ``negatives`` items
    drawn uniformly from the items the user has not interacted with.

    Membership is tested by binary search within the user's own sorted row of the CSR
    matrix: no extra index, and each test reads one short row instead of walking a sorted
    array of all interactions (whose misses grow with the log of its size). An epoch's first
    draw, one query per interaction, is instead searched in R's sorted keys after regrouping
    the queries by user (:meth:`_first_draw_positive`; the same answers). Collisions are
    redrawn a few rounds; after that the rare remaining ones are kept (they only add noise of
    order 1/n_items).
    """

    def __init__(self, R: sp.csr_matrix, seed: int = 0, max_rounds: int = 20) -> None:
        R = R.tocsr()
        if not R.has_sorted_indices:
            R = R.sorted_indices()
        self.n_items = R.shape[1]
        self.users = np.repeat(np.arange(R.shape[0], dtype=np.int64), np.diff(R.indptr))
        self.items = R.indices.astype(np.int64)
        self.R = R
        self.seed = seed
        self.max_rounds = max_rounds

    def __len__(self) -> int:
        return len(self.users)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Is ``items[k]`` a training interaction of ``users[k]``, for every ``k``?"""
        indptr, indices = self.R.indptr, self.R.indices
        users, items = np.asarray(users), np.asarray(items)
        end = indptr[users + 1].astype(np.int64)
        low, high = indptr[users].astype(np.int64), end.copy()
        # Lower bound of each item in its user's row; a round halves every open span.
        open_ = np.flatnonzero(low < high)
        while len(open_):
            lo, hi = low[open_], high[open_]
            middle = (lo + hi) >> 1
            below = indices[middle] < items[open_]
            low[open_] = np.where(below, middle + 1, lo)
            high[open_] = np.where(below, hi, middle)
            open_ = open_[low[open_] < high[open_]]
        found = low < end
        found[found] = indices[low[found]] == items[found]
        return found

    def positive_mask(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``mask[a, b]``: is ``items[b]`` a training positive of ``users[a]``? (``items``
        distinct). Costs the users' interactions, not ``len(users) * len(items)`` lookups."""
        slot = np.full(self.n_items, -1, dtype=np.int64)
        slot[items] = np.arange(len(items))
        rows = self.R[users]
        row_of_entry = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
        column = slot[rows.indices]
        hit = column >= 0
        mask = np.zeros((len(users), len(items)), dtype=bool)
        mask[row_of_entry[hit], column[hit]] = True
        return mask

    def _first_draw_positive(self, order: np.ndarray, drawn: np.ndarray,
                             negatives: int) -> np.ndarray:
        """:meth:`is_positive` of an epoch's first draw (``drawn[j]`` for the user of
        interaction ``order[j // negatives]``), the same answers, found another way.

        The queries are put back in the interactions' own order (CSR order: grouped by user,
        as R's sorted keys ``user * n_items + item`` are), searched in those keys with one
        ``searchsorted``, and the answers returned in the epoch's order. Consecutive queries
        then fall in the same row, which stays in cache, where the row-wise binary search of
        :meth:`is_positive` runs each of its rounds over all queries in shuffled order: on 19.2M
        interactions 3.1 s against 13.0 s, on 0.9M 0.09 s against 0.43 s.
        """
        slot = (order if negatives == 1
                else (order[:, None] * negatives + np.arange(negatives)).ravel())
        grouped = np.empty(len(drawn), dtype=np.int64)
        grouped[slot] = drawn
        grouped += np.repeat(self.users, negatives) * self.n_items
        keys = self.users * self.n_items + self.items
        found = keys[np.minimum(np.searchsorted(keys, grouped), len(keys) - 1)] == grouped
        return found[slot]

    def epoch(
        self, epoch: int, negatives: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shuffled ``(users, positives, negatives)`` for ``epoch``, negatives of shape
        ``(n, negatives)``; the same epoch gives the same draw."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.users))
        users, positives = self.users[order], self.items[order]
        repeated = np.repeat(users, negatives)
        drawn = rng.integers(0, self.n_items, size=len(repeated))
        redraw = self._first_draw_positive(order, drawn, negatives)
        for _ in range(self.max_rounds):
            if not redraw.any():
                break
            index = np.flatnonzero(redraw)
            drawn[index] = rng.integers(0, self.n_items, size=len(index))
            redraw[index] = self.is_positive(repeated[index], drawn[index])
        return users, positives, drawn.reshape(len(users), negatives)
