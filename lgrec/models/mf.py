"""Matrix factorisation trained with BPR (Rendle et al., UAI 2009).

``score(u, i) = e_u . e_i`` with free embeddings, learned from (user, positive, negative)
triples by :class:`lgrec.train.Trainer`.
"""

from __future__ import annotations

import torch

from lgrec.graph import Graph
from lgrec.models.base import EmbeddingModel


class MF(EmbeddingModel):
    name = "mf"

    def forward(self, graph: Graph | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight
