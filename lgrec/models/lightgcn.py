"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020).

Propagation without feature transforms or non-linearities on the symmetrically normalised
bipartite adjacency ``Â = D^-1/2 A D^-1/2``:

    E^(k+1) = Â E^(k),        E = 1/(K+1) * sum_{k=0..K} E^(k)

where ``E^(0)`` stacks the free user and item embeddings. Scores are ``e_u . e_i``.

Optional noise contrast (XSimGCL: Yu et al., "XSimGCL: Towards Extremely Simple Graph
Contrastive Learning for Recommendation", TKDE 2023). While training, every layer's output is
perturbed, ``E^(k) <- E^(k) + eps * sign(E^(k)) * normalize(U(0,1))``, and an InfoNCE term
with weight ``cl_weight`` pulls each batch node's final vector towards its own layer-``cl_layer``
vector and away from the other nodes' (temperature ``cl_temperature``). This spreads the
embeddings more uniformly and is known to speed up convergence; it costs no extra propagation.

Optional degree exponents (``target_exponent``, ``source_exponent``; 0.5 and 0.5 give the
formula above). The message from node ``b`` to node ``a`` is scaled by
``deg(a)^-target_exponent * deg(b)^-source_exponent`` instead of ``1/sqrt(deg(a) deg(b))``, the
flexible normalisation of LightGCN++ (Lee, Kim and Shin, "Revisiting LightGCN: Unexpected
Inflexibility, Inconsistency, and A Remedy Towards Improved Recommendation", RecSys 2024,
without its per-layer rescaling of the vectors). A larger target exponent shrinks what
high-degree nodes receive; a smaller source exponent lets high-degree neighbours speak louder.
The propagation stays linear; its gradient propagates over the transpose.

Optional cosine scores (``normalize=True``): the final vectors are L2-normalised, so scores are
cosines, as in sampled-softmax studies of LightGCN (Wu et al., "On the Effectiveness of Sampled
Softmax Loss for Item Recommendation", TOIS 2024). With the InfoNCE loss this bounds the logits
by ``1/temperature``, so vector norms cannot grow to overfit popular items.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lgrec.graph import Graph, adjacency_spmm, map_column_blocks
from lgrec.models.base import EmbeddingModel
from lgrec.train.losses import view_contrast_loss


def propagate(adjacency: torch.Tensor, x: torch.Tensor, layers: int,
              transpose: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x, Âx, Â²x, ..., Â^K x`` for the adjacency ``Â`` of a :class:`Graph`
    (symmetric unless its ``transpose`` is given).

    The map is linear; its adjoint is the same mean of powers of ``Â^T`` (of ``Â`` itself
    when symmetric). So the backward pass is one more propagation and no layer output is kept
    for it (an autograd graph of the layers would keep K tables and add, divide and
    zero-fill whole tables on the way back).
    """
    if x.requires_grad and torch.is_grad_enabled():
        return _LayerMean.apply(adjacency, adjacency if transpose is None else transpose, x,
                                layers)
    return _mean_of_powers(adjacency, x, layers)


class _LayerMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, transpose: torch.Tensor, x: torch.Tensor,  # type: ignore[override]
                layers: int) -> torch.Tensor:
        ctx.transpose, ctx.layers = transpose, layers
        return _mean_of_powers(adjacency, x, layers)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor, None]:  # type: ignore[override]
        return None, None, _mean_of_powers(ctx.transpose, grad.contiguous(), ctx.layers), None


def _mean_of_powers(adjacency: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    """Columns do not mix, so a wide table goes through every layer in cache-sized column
    blocks (:func:`lgrec.graph.map_column_blocks`)."""
    with torch.no_grad():
        total = map_column_blocks(lambda block: _layer_sum(adjacency, block, layers), x)
        return total.div_(layers + 1)


def _layer_sum(adjacency: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    total = x.clone()
    for _ in range(layers):
        x = adjacency_spmm(adjacency, x)
        total.add_(x)
    return total


class LightGCN(EmbeddingModel):
    name = "lightgcn"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        layers: int = 3,
        init_std: float = 0.1,
        init: str = "normal",
        cl_weight: float = 0.0,
        noise_eps: float = 0.1,
        cl_temperature: float = 0.2,
        cl_layer: int = 1,
        normalize: bool = False,
        target_exponent: float = 0.5,
        source_exponent: float = 0.5,
    ) -> None:
        super().__init__(n_users, n_items, dim=dim, init_std=init_std, init=init)
        if cl_weight > 0 and not 1 <= cl_layer <= layers:
            raise ValueError(f"cl_layer must be between 1 and layers ({layers}), got {cl_layer}")
        self.layers = layers
        self.cl_weight = cl_weight
        self.noise_eps = noise_eps
        self.cl_temperature = cl_temperature
        self.cl_layer = cl_layer
        self.normalize = normalize
        self.target_exponent = target_exponent
        self.source_exponent = source_exponent
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None

    def params(self) -> dict[str, Any]:
        return {**super().params(), "layers": self.layers, "cl_weight": self.cl_weight,
                "noise_eps": self.noise_eps, "cl_temperature": self.cl_temperature,
                "cl_layer": self.cl_layer, "normalize": self.normalize,
                "target_exponent": self.target_exponent,
                "source_exponent": self.source_exponent}

    def adjacency_pair(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Â, Â^T)``: the graph's adjacency scaled by this model's degree exponents."""
        return (graph.scaled_adjacency(self.target_exponent, self.source_exponent),
                graph.scaled_adjacency(self.source_exponent, self.target_exponent))

    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        matrix, transpose = self.adjacency_pair(graph)
        contrast = self.training and self.cl_weight > 0
        if not contrast:
            self._views = None
            out = self._output(propagate(matrix, x, self.layers, transpose))
            return self.split_nodes(out)
        total, view = x, x
        for layer in range(1, self.layers + 1):
            x = adjacency_spmm(matrix, x, transpose)
            x = x + self.noise_eps * torch.sign(x) * F.normalize(torch.rand_like(x), dim=-1)
            if layer == self.cl_layer:
                view = x
            total = total + x
        out = self._output(total / (self.layers + 1))
        self._views = (out, view)
        return self.split_nodes(out)

    def _output(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(vectors, dim=1) if self.normalize else vectors

    def auxiliary_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self._views is None:
            return torch.zeros((), device=users.device)
        final, view = self._views
        u = torch.unique(users)
        i = torch.unique(items) + self.n_users
        loss = view_contrast_loss(final[u], view[u], self.cl_temperature)
        loss = loss + view_contrast_loss(final[i], view[i], self.cl_temperature)
        return self.cl_weight * loss

    def item_layers(self, graph: Graph) -> torch.Tensor:
        """Item vectors at layers 0..K-1 (K x n_items x dim), what a new user's propagation reads."""
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        matrix = self.adjacency_pair(graph)[0]
        outs = []
        for _ in range(self.layers):
            outs.append(x[self.n_users :])
            x = torch.sparse.mm(matrix, x)
        return torch.stack(outs)
