"""Models behind one protocol (:class:`Model`), looked up by name."""

from __future__ import annotations

from typing import Any

from lgrec.models.base import EmbeddingModel, Model
from lgrec.models.lightgcn import LightGCN
from lgrec.models.mf import MF
from lgrec.models.popularity import Popularity

MODELS: dict[str, type[Model]] = {m.name: m for m in (Popularity, MF, LightGCN)}


def create_model(name: str, n_users: int, n_items: int, **params: Any) -> Model:
    """Instantiate a registered model by name."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None
    return cls(n_users, n_items, **params)


__all__ = ["MODELS", "EmbeddingModel", "LightGCN", "MF", "Model", "Popularity", "create_model"]
