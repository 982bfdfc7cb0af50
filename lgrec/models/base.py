"""The protocol every model implements, so that trainer, evaluator and index never special-case one."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from lgrec.graph import Graph


class Model(nn.Module):
    """A recommender model scoring users against items, by default by the dot product of their
    vectors (a model that scores otherwise overrides :meth:`score_users`).

    Subclasses implement :meth:`forward`, returning the final user and item vectors for a
    graph (the graph is passed in, not stored). Trainable models are fitted by
    :class:`lgrec.train.Trainer` through :meth:`regularization` and the vectors; models with a
    closed form set ``trainable = False`` and implement :meth:`fit_closed_form`.
    """

    name: ClassVar[str] = ""
    trainable: ClassVar[bool] = True
    needs_text: ClassVar[bool] = False
    """True for models built from text vectors (passed as ``item_text``/``user_text``)."""

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items

    def params(self) -> dict[str, Any]:
        """The constructor arguments (besides the sizes) that re-create this model."""
        return {}

    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``(user_vectors, item_vectors)`` of shapes (n_users, d) and (n_items, d)."""
        raise NotImplementedError

    def split_nodes(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The user and item rows of a node table (users first), as views.

        One split rather than two slices: backwards, the split joins the two gradients in one
        copy, where each slice would fill a zero node table and the two would then be added
        (LightGCN's steps on the 19.2M-edge cost-curve graph: about 6% of their time).
        """
        users, items = nodes.split([self.n_users, self.n_items])
        return users, items

    def score_users(
        self, users: torch.Tensor, user_vectors: torch.Tensor, item_vectors: torch.Tensor
    ) -> torch.Tensor:
        """Scores of ``users`` (1-D index tensor) against every item: (len(users), n_items).

        ``user_vectors`` and ``item_vectors`` are what :meth:`forward` returned. The default is
        their dot product; a model whose scores are not one (the graph filter) overrides this,
        and evaluation and recommendation call it instead of multiplying the vectors.
        """
        return user_vectors[users.to(user_vectors.device)] @ item_vectors.t()

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        """Squared L2 norm of the parameters a batch touches, halved and averaged over the batch."""
        return torch.zeros((), device=users.device)

    def auxiliary_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """An extra training loss for the batch's ``users`` and positive ``items``, computed from
        the last training-mode :meth:`forward` (e.g. a contrastive term). Default: none."""
        return torch.zeros((), device=users.device)

    def initialize(self, graph: Graph) -> None:
        """Set up parameters that depend on the training graph, once, before the first epoch
        (not when training resumes from a checkpoint). The default does nothing."""

    def fit_closed_form(self, R: sp.csr_matrix) -> None:
        """Fit from the interaction matrix, for models with ``trainable = False``."""
        raise NotImplementedError(f"{type(self).__name__} is trained by gradient descent")


class EmbeddingModel(Model):
    """A model with one free ID embedding per user and per item (its layer 0).

    ``init`` is ``normal`` (N(0, init_std²), the usual choice) or ``spectral``: the top-``dim``
    singular vectors of the normalised interaction matrix ``D_u^-1/2 R D_i^-1/2``, scaled by
    the square roots of their singular values and then to the row norm a ``normal`` start
    would have. A spectral start already ranks like a low-pass graph filter (for LightGCN the
    propagation only rescales each singular pair), so gradient descent begins near a good
    solution and needs far fewer epochs on large graphs.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        init_std: float = 0.1,
        init: str = "normal",
    ) -> None:
        super().__init__(n_users, n_items)
        if init not in {"normal", "spectral"}:
            raise ValueError(f"unknown init {init!r}; use 'normal' or 'spectral'")
        self.dim = dim
        self.init_std = init_std
        self.init = init
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_embedding.weight, std=init_std)
        nn.init.normal_(self.item_embedding.weight, std=init_std)

    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "init_std": self.init_std, "init": self.init}

    def initialize(self, graph: Graph) -> None:
        if self.init != "spectral":
            return
        from lgrec.graph import normalize_bipartite
        from lgrec.graph.spectral import spectral_embeddings

        users, items = spectral_embeddings(normalize_bipartite(graph.R, "sym"), self.dim)
        vectors = torch.from_numpy(np.concatenate([users, items]))
        mean_norm = vectors.norm(dim=1).mean().clamp_min(1e-12)
        vectors *= self.init_std * self.dim**0.5 / mean_norm
        with torch.no_grad():
            device = self.user_embedding.weight.device
            self.user_embedding.weight.copy_(vectors[: self.n_users].to(device))
            self.item_embedding.weight.copy_(vectors[self.n_users :].to(device))

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        # LightGCN's L2 term: on the layer-0 embeddings of the batch only, not the whole table.
        squares = (
            self.user_embedding(users).pow(2).sum()
            + self.item_embedding(pos).pow(2).sum()
            + self.item_embedding(neg).pow(2).sum()
        )
        return squares / (2 * users.shape[0])
