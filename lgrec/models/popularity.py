"""Popularity: every user gets the items with the most training interactions.

The floor every other model must beat. Expressed as one-dimensional vectors (users all ones,
items their interaction counts) so it fits the common dot-product protocol.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from lgrec.graph import Graph
from lgrec.models.base import Model


class Popularity(Model):
    name = "popularity"
    trainable = False

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.register_buffer("item_counts", torch.zeros(n_items, 1))

    def fit_closed_form(self, R: sp.csr_matrix) -> None:
        counts = np.asarray((R > 0).sum(axis=0), dtype=np.float32).reshape(-1, 1)
        self.item_counts = torch.from_numpy(counts)

    def forward(self, graph: Graph | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        users = torch.ones(self.n_users, 1, device=self.item_counts.device)
        return users, self.item_counts
