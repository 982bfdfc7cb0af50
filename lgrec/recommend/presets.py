"""Default hyperparameters per model, chosen on validation splits (never on test).

The figures that justify them, and the command that reproduces them, are in BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "popularity": {},
    "mf": {"dim": 64, "init_std": 0.01, "lr": 0.002, "reg": 3e-3, "batch_size": 2048,
           "patience": 10},
    "lightgcn": {"dim": 64, "layers": 3, "lr": 0.005, "reg": 1e-3, "batch_size": 2048,
                 "patience": 10},
    "ngcf": {"dim": 64, "layers": 2, "dropout": 0.0, "lr": 0.005, "reg": 1e-2, "batch_size": 2048,
             "patience": 10},
    "gat": {"dim": 64, "layers": 2, "normalization": "symmetric", "lr": 0.01, "reg": 1e-3,
            "batch_size": 2048, "patience": 10},
    "graph-filter": {"rank": 32, "alpha": 1.5},
    "text-lightgcn": {"dim": 64, "layers": 3, "user_embeddings": True, "loss": "infonce",
                      "negatives": 64, "temperature": 0.15, "lr": 0.001, "reg": 0.0,
                      "batch_size": 2048, "patience": 10, "text_neighbours": 10},
}


def preset(model: str) -> dict[str, Any]:
    """A copy of the default parameters for ``model`` (empty for unknown models)."""
    return dict(PRESETS.get(model, {}))
