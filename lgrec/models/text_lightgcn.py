"""Text-LightGCN: language-model vectors of item (and user) text, projected into the embedding
space and propagated on the interaction graph.

Inspired by AlphaRec (Sheng et al., "Language Representations Can be What Recommenders Need",
ICLR 2025: a small MLP maps frozen language vectors into the collaborative space, LightGCN
propagation, InfoNCE on cosine scores) and RLMRec (Ren et al., WWW 2024: language-derived user
and item profiles aligned with collaborative vectors). Layer 0 is

    e_i^(0) = MLP_item(t_i) [+ w_i]                     (item text t_i, optional ID vector w_i)
    e_u^(0) = mean_{i in N(u)} e_i^(0) [+ MLP_user(t_u)]  (user text t_u when given)

then ``E^(k+1) = Â E^(k)`` and ``E = mean_k E^(k)`` as in LightGCN, and the final vectors are
L2-normalised so that scores are cosines. Items the graph has never seen get
``normalize(MLP_item(t))``: they are recommendable from their text alone, and a request in
natural language is mapped into the same space by the same projection.

Text neighbours (``text_neighbours`` = k > 0): the items' language vectors also define an
item-item graph ``S`` (each item linked to its k most similar texts by cosine, symmetrised,
``D^-1/2 S D^-1/2``), fixed before training, and each item's final vector gets
``S e^(0)`` added: items are smoothed over what their texts say as well as over who
interacted with them, as in FREEDOM (Zhou and Shen, "A Tale of Two Graphs: Freezing and
Denoising Graph Structures for Multimodal Recommendation", MM 2023).

Cold-start alignment (``text_weight`` > 0): warm items are scored by propagated vectors that
also carry their ID vectors, cold ones by the text projection alone, so nothing in the ranking
loss teaches users' vectors to rank text projections. An extra in-batch InfoNCE term does
(as in content-based contrastive cold-start models such as CLCRec, Wei et al. 2021): each
user's final vector must pick the text-only vector ``normalize(MLP_item(t_i))`` of their
positive item among those of the batch's other positives, at ``text_temperature``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from lgrec.graph import Graph, adjacency_spmm, normalize_bipartite, to_torch_sparse
from lgrec.models.base import Model
from lgrec.models.lightgcn import propagate

FUSIONS = ("none", "add")


def _mlp(text_dim: int, hidden: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(text_dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, dim))


class TextLightGCN(Model):
    """Graph propagation over language-model vectors; see the module docstring.

    ``item_text`` (n_items x text_dim) and ``user_text`` (n_users x text_dim, optional) are the
    encoder's vectors, stored as buffers so the saved model carries them. ``fusion="add"`` adds a
    free ID vector per item (zero at the start, so text leads); ``"none"`` uses text alone.
    ``user_embeddings`` adds a free ID vector per user the same way; ``id_init_std`` is the
    standard deviation those ID vectors start from (0: text leads). ``text_neighbours`` is the k
    of the item text graph (0: none).
    """

    name = "text-lightgcn"
    needs_text = True
    normalize = True  # scores are cosines; folded-in and cold vectors are normalised too

    def __init__(
        self,
        n_users: int,
        n_items: int,
        item_text: torch.Tensor | None = None,
        user_text: torch.Tensor | None = None,
        *,
        text_dim: int | None = None,
        has_user_text: bool | None = None,
        dim: int = 64,
        layers: int = 3,
        hidden: int = 256,
        fusion: str = "add",
        user_embeddings: bool = False,
        text_weight: float = 0.0,
        text_temperature: float = 0.15,
        id_init_std: float = 0.0,
        text_neighbours: int = 0,
    ) -> None:
        super().__init__(n_users, n_items)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        if item_text is None and text_dim is None:
            raise ValueError("text-lightgcn needs item text vectors (or text_dim when loading)")
        text_dim = int(item_text.shape[1]) if item_text is not None else int(text_dim)
        has_user_text = user_text is not None if has_user_text is None else has_user_text
        self.text_dim, self.dim, self.layers = text_dim, dim, layers
        self.hidden, self.fusion, self.has_user_text = hidden, fusion, has_user_text
        self.register_buffer(
            "item_text",
            item_text.float() if item_text is not None else torch.zeros(n_items, text_dim),
        )
        self.item_projection = _mlp(text_dim, hidden, dim)
        if has_user_text:
            self.register_buffer(
                "user_text",
                user_text.float() if user_text is not None else torch.zeros(n_users, text_dim),
            )
            self.user_projection = _mlp(text_dim, hidden, dim)
        self.id_init_std = id_init_std
        self.text_neighbours = text_neighbours
        self._item_graph: torch.Tensor | None = None
        if fusion == "add":
            self.item_embedding = nn.Embedding(n_items, dim)
            nn.init.normal_(self.item_embedding.weight, std=id_init_std)
        self.text_weight, self.text_temperature = text_weight, text_temperature
        self._users: torch.Tensor | None = None  # final user vectors of the last training pass
        self.user_embeddings = user_embeddings
        if user_embeddings:
            # Free per-user vectors added to the mean of the user's items, zero at the start
            # by default so that the text-derived mean leads; folded-in users have none (zero).
            self.user_embedding = nn.Embedding(n_users, dim)
            nn.init.normal_(self.user_embedding.weight, std=id_init_std)

    def params(self) -> dict[str, Any]:
        return {
            "text_dim": self.text_dim,
            "has_user_text": self.has_user_text,
            "dim": self.dim,
            "layers": self.layers,
            "hidden": self.hidden,
            "fusion": self.fusion,
            "user_embeddings": self.user_embeddings,
            "text_weight": self.text_weight,
            "text_temperature": self.text_temperature,
            "id_init_std": self.id_init_std,
            "text_neighbours": self.text_neighbours,
        }

    # ------------------------------------------------------------------ layer 0
    def project_items(self, text: torch.Tensor) -> torch.Tensor:
        """Layer-0 vectors of items from their text alone (no ID vector)."""
        return self.item_projection(text)

    def project_users(self, text: torch.Tensor) -> torch.Tensor:
        """Layer-0 contribution of user text (falls back to the item projection)."""
        if self.has_user_text:
            return self.user_projection(text)
        return self.item_projection(text)

    def item_layer0(self) -> torch.Tensor:
        items = self.project_items(self.item_text)
        if self.fusion == "add":
            items = items + self.item_embedding.weight
        return items

    def layer0(self, graph: Graph) -> torch.Tensor:
        items = self.item_layer0()
        users = graph.user_mean(items)
        if self.has_user_text:
            users = users + self.user_projection(self.user_text)
        if self.user_embeddings:
            users = users + self.user_embedding.weight
        return torch.cat([users, items])

    # ------------------------------------------------------------------ protocol
    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        layer0 = self.layer0(graph)
        out = propagate(graph.adjacency, layer0, self.layers)
        if self.text_neighbours:
            users, items = self.split_nodes(out)
            out = torch.cat([users, items + adjacency_spmm(self.item_graph(),
                                                           layer0[self.n_users :])])
        users, items = self.split_nodes(F.normalize(out, dim=1))
        self._users = users if self.training and self.text_weight else None
        return users, items

    def item_graph(self) -> torch.Tensor:
        """The items' text k-nearest-neighbour graph (cosine of their language vectors, each
        item linked to its ``text_neighbours`` closest, symmetrised and normalised
        ``D^-1/2 S D^-1/2``), built once from the stored text vectors; as in FREEDOM (Zhou and
        Shen, MM 2023), items are smoothed over it in addition to the interaction graph."""
        device = self.item_text.device
        if self._item_graph is None or self._item_graph.device != device:
            text = F.normalize(self.item_text.detach().cpu(), dim=1)
            k = min(self.text_neighbours, self.n_items - 1)
            columns = []
            for start in range(0, self.n_items, 4096):
                similarity = text[start : start + 4096] @ text.t()
                rows = torch.arange(similarity.shape[0])
                similarity[rows, rows + start] = -torch.inf  # not its own neighbour
                columns.append(similarity.topk(k, dim=1).indices)
            cols = torch.cat(columns).reshape(-1).numpy()
            rows = np.repeat(np.arange(self.n_items), k)
            knn = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                shape=(self.n_items, self.n_items))
            knn = knn.maximum(knn.T)  # symmetric, an edge found from both ends counted once
            self._item_graph = to_torch_sparse(normalize_bipartite(knn.tocsr(), "sym"), device)
        return self._item_graph

    def auxiliary_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self._users is None:
            return torch.zeros((), device=users.device)
        text_items = F.normalize(self.project_items(self.item_text[items]), dim=1)
        logits = self._users[users] @ text_items.t() / self.text_temperature
        # A batch may hold the same item twice: its other copies are not negatives.
        same = items[:, None] == items[None, :]
        logits = logits.masked_fill(same & ~torch.eye(len(items), dtype=torch.bool,
                                                      device=items.device), -torch.inf)
        return self.text_weight * (torch.logsumexp(logits, 1) - logits.diagonal()).mean()

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        squares = torch.zeros((), device=users.device)
        if self.fusion == "add":
            squares = self.item_embedding(pos).pow(2).sum() + self.item_embedding(neg).pow(2).sum()
        if self.user_embeddings:
            squares = squares + self.user_embedding(users).pow(2).sum()
        return squares / (2 * users.shape[0])

    # ------------------------------------------------------------------ cold start
    def item_layers(self, graph: Graph) -> torch.Tensor:
        """Item vectors at layers 0..K-1 (K x n_items x dim), what a new user's propagation reads."""
        x = self.layer0(graph)
        outs = []
        for _ in range(self.layers):
            outs.append(x[self.n_users :])
            x = torch.sparse.mm(graph.adjacency, x)
        return torch.stack(outs)
