"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020).

Propagation without feature transforms or non-linearities on the symmetrically normalised
bipartite adjacency ``Â = D^-1/2 A D^-1/2``:

    E^(k+1) = Â E^(k),        E = 1/(K+1) * sum_{k=0..K} E^(k)

where ``E^(0)`` stacks the free user and item embeddings. Scores are ``e_u . e_i``.
"""

from __future__ import annotations

from typing import Any

import torch

from lgrec.graph import Graph, symmetric_spmm
from lgrec.models.base import EmbeddingModel


def propagate(adjacency: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    """Mean of ``x, Âx, Â²x, ..., Â^K x``."""
    total = x
    for _ in range(layers):
        x = symmetric_spmm(adjacency, x)
        total = total + x
    return total / (layers + 1)


class LightGCN(EmbeddingModel):
    name = "lightgcn"

    def __init__(
        self, n_users: int, n_items: int, dim: int = 64, layers: int = 3, init_std: float = 0.1
    ) -> None:
        super().__init__(n_users, n_items, dim=dim, init_std=init_std)
        self.layers = layers

    def params(self) -> dict[str, Any]:
        return {**super().params(), "layers": self.layers}

    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = propagate(graph.adjacency, x, self.layers)
        return out[: self.n_users], out[self.n_users :]

    def item_layers(self, graph: Graph) -> torch.Tensor:
        """Item vectors at layers 0..K-1 (K x n_items x dim), what a new user's propagation reads."""
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        outs = []
        for _ in range(self.layers):
            outs.append(x[self.n_users :])
            x = torch.sparse.mm(graph.adjacency, x)
        return torch.stack(outs)
