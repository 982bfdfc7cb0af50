"""NGCF (Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019).

Each layer sends messages along the symmetrically normalised bipartite adjacency
``Â = D^-1/2 A D^-1/2`` with two update functions, one on the neighbours' embeddings (the
node update, self-connection included) and one on their element-wise product with the
receiver's embedding (the interaction or edge term), each with its own weights per layer:

    E^(k+1) = LeakyReLU( (Â + I) E^(k) W1^(k)  +  (Â E^(k) ⊙ E^(k)) W2^(k) )

with LeakyReLU slope 0.2 and message dropout on ``E^(k+1)``. The final vector of a node
concatenates its layer-0 embedding with the L2-normalised outputs of every layer,
``e = [e^(0) || e^(1)/|e^(1)| || ... || e^(K)/|e^(K)|]`` (dimension ``dim * (K + 1)``), and
scores are ``e_u . e_i``. ``Â`` stays sparse: every product with it is one sparse-dense
multiplication.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lgrec.graph import Graph, adjacency_spmm
from lgrec.models.base import EmbeddingModel


def ngcf_layer(
    adjacency: torch.Tensor,
    x: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """One NGCF propagation ``LeakyReLU((Â + I) x W1 + (Â x ⊙ x) W2)`` (no dropout)."""
    neighbours = adjacency_spmm(adjacency, x)  # Â x, computed once for both terms
    return F.leaky_relu((neighbours + x) @ w1 + (neighbours * x) @ w2, negative_slope)


class NGCF(EmbeddingModel):
    """NGCF with ``layers`` propagation layers of width ``dim`` and message ``dropout``."""

    name = "ngcf"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        layers: int = 3,
        dropout: float = 0.1,
        negative_slope: float = 0.2,
        init_std: float = 0.1,
        init: str = "normal",
    ) -> None:
        super().__init__(n_users, n_items, dim=dim, init_std=init_std, init=init)
        self.layers = layers
        self.dropout = dropout
        self.negative_slope = negative_slope
        self.w1 = nn.ParameterList(nn.Parameter(torch.empty(dim, dim)) for _ in range(layers))
        self.w2 = nn.ParameterList(nn.Parameter(torch.empty(dim, dim)) for _ in range(layers))
        for weight in (*self.w1, *self.w2):
            # Xavier keeps the scale of the embeddings from layer to layer, as in the paper's code.
            nn.init.xavier_uniform_(weight)
        self.message_dropout = nn.Dropout(dropout)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "layers": self.layers,
            "dropout": self.dropout,
            "negative_slope": self.negative_slope,
        }

    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        outputs = [x]
        for w1, w2 in zip(self.w1, self.w2, strict=True):
            x = self.message_dropout(ngcf_layer(graph.adjacency, x, w1, w2, self.negative_slope))
            # Normalised copies go into the final vector; the next layer reads the raw ones.
            outputs.append(F.normalize(x, dim=1))
        return self.split_nodes(torch.cat(outputs, dim=1))
