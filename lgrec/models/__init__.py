"""Models behind one protocol (:class:`Model`), looked up by name."""

from __future__ import annotations

from typing import Any

from lgrec.models.base import EmbeddingModel, Model
from lgrec.models.gat import GAT
from lgrec.models.graph_filter import GraphFilter
from lgrec.models.lightgcn import LightGCN
from lgrec.models.mf import MF
from lgrec.models.ngcf import NGCF
from lgrec.models.popularity import Popularity
from lgrec.models.text_lightgcn import TextLightGCN

MODELS: dict[str, type[Model]] = {
    m.name: m for m in (Popularity, MF, LightGCN, NGCF, GAT, GraphFilter, TextLightGCN)
}


def create_model(name: str, n_users: int, n_items: int, **params: Any) -> Model:
    """Instantiate a registered model by name."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None
    return cls(n_users, n_items, **params)


__all__ = [
    "MODELS",
    "EmbeddingModel",
    "GAT",
    "GraphFilter",
    "LightGCN",
    "MF",
    "Model",
    "NGCF",
    "Popularity",
    "TextLightGCN",
    "create_model",
]
