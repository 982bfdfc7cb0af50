"""Vectors for users and items the model was not trained on, without retraining.

- Graph models (LightGCN family) fold a new user in by running the propagation for that one
  node: with the items' vectors at layers 0..K-1 kept from training,
  ``e_u^(k+1) = sum_{i in N(u)} e_i^(k) / sqrt(|N(u)| (d_i + 1))`` (with a LightGCN's degree
  exponents, ``|N(u)|^-target (d_i + 1)^-source``) and the user's vector is the mean over
  layers, exactly the formula trained users get.
- New items from text: an item without edges keeps its layer-0 vector through propagation,
  but trained items' final vectors are smoothed over their neighbourhoods, so the two live in
  different parts of the space. A cold item is therefore placed between its own projected
  text (share ``own_weight``) and the final vectors of the trained items whose text is most
  similar (a soft k-nearest-neighbour average in the encoder's space).
- Other dot-product models (MF) fit the user's vector by a few hundred BPR steps against the
  fixed item vectors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lgrec.train.losses import bpr_loss


def propagate_new_user(
    item_layers: torch.Tensor,
    item_degree: torch.Tensor,
    items: torch.Tensor,
    layer0: torch.Tensor,
    target_exponent: float = 0.5,
    source_exponent: float = 0.5,
) -> torch.Tensor:
    """The mean over layers 0..K of a new user's vectors; ``layer0`` is its layer-0 vector.
    Each message is scaled by the user's degree to ``-target_exponent`` and the item's to
    ``-source_exponent`` (0.5 and 0.5: the symmetric normalisation)."""
    vectors = [layer0]
    if len(items):
        weights = (float(len(items)) ** -target_exponent
                   * (item_degree[items] + 1.0) ** -source_exponent)
        for k in range(item_layers.shape[0]):
            vectors.append((weights[:, None] * item_layers[k, items]).sum(0))
    else:
        vectors.extend(torch.zeros_like(layer0) for _ in range(item_layers.shape[0]))
    return torch.stack(vectors).mean(0)


def place_cold_items(
    layer0: torch.Tensor,
    text: torch.Tensor,
    trained_text: torch.Tensor,
    trained_final: torch.Tensor,
    *,
    neighbours: int = 20,
    temperature: float = 0.02,
    own_weight: float = 0.2,
) -> torch.Tensor:
    """Unit vectors for new items from their projected text and their text neighbours."""
    similarity = F.normalize(text, dim=1) @ F.normalize(trained_text, dim=1).t()
    top = torch.topk(similarity, min(neighbours, similarity.shape[1]), dim=1)
    weights = torch.softmax(top.values / temperature, dim=1)
    borrowed = torch.einsum("nk,nkd->nd", weights, trained_final[top.indices])
    mixed = own_weight * F.normalize(layer0, dim=1) + (1 - own_weight) * F.normalize(borrowed, dim=1)
    return F.normalize(mixed, dim=1)


def fit_user_vector(
    item_vectors: torch.Tensor,
    items: np.ndarray,
    *,
    steps: int = 300,
    lr: float = 0.05,
    reg: float = 1e-3,
    seed: int = 0,
) -> torch.Tensor:
    """A user vector that ranks ``items`` above random others (BPR), item vectors fixed."""
    generator = torch.Generator().manual_seed(seed)
    positives = torch.from_numpy(np.asarray(items, dtype=np.int64))
    user = item_vectors[positives].mean(0).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([user], lr=lr)
    known = set(positives.tolist())
    batch = max(64, 4 * len(positives))
    for _ in range(steps):
        pos = positives[torch.randint(len(positives), (batch,), generator=generator)]
        neg = torch.randint(item_vectors.shape[0], (batch, 1), generator=generator)
        keep = torch.tensor([int(n) not in known for n in neg[:, 0]])
        if not keep.any():
            continue
        pos, neg = pos[keep], neg[keep]
        loss = bpr_loss(item_vectors[pos] @ user, item_vectors[neg] @ user)
        loss = loss + reg * user.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return user.detach()


def mix_query(user: torch.Tensor | None, query: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(1 - alpha) * e_u + alpha * e_query`` on unit vectors (the query alone without a user)."""
    query = F.normalize(query, dim=-1)
    if user is None:
        return query
    return (1 - alpha) * F.normalize(user, dim=-1) + alpha * query
