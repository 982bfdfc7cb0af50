"""Model artifacts: a directory of JSON, safetensors and Parquet files. Never pickle.

Layout::

    config.json          model name, model params, training config, sizes, lgrec version
    ids.json             external user and item ids in internal order
    weights.safetensors  model state ("model.*"), final vectors ("vectors.*"), seen items ("seen.*")
    metrics.json         validation history and the last evaluation
    items.parquet        item side table (optional), users.parquet likewise
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

from lgrec.train.checkpoint import write_dir_atomically

FORMAT_VERSION = 1


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table = frame.copy()
    table.index = table.index.astype(str)
    table.columns = [str(c) for c in table.columns]
    table.to_parquet(buffer)
    return buffer.getvalue()


def write_artifact(
    directory: str | Path,
    *,
    config: dict[str, Any],
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    tensors: dict[str, torch.Tensor],
    seen: sp.csr_matrix,
    metrics: dict[str, Any],
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
) -> None:
    """Write every file into a temporary directory and rename it to ``directory``."""
    payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    payload["seen.indptr"] = torch.from_numpy(seen.indptr.astype(np.int64))
    payload["seen.indices"] = torch.from_numpy(seen.indices.astype(np.int64))
    files: dict[str, bytes | str] = {
        "config.json": json.dumps({**config, "format_version": FORMAT_VERSION}, indent=2),
        "ids.json": json.dumps({"users": list(map(str, user_ids)), "items": list(map(str, item_ids))}),
        "weights.safetensors": save_tensors(payload),
        "metrics.json": json.dumps(metrics, indent=2, default=float),
    }
    if items is not None:
        files["items.parquet"] = _frame_bytes(items)
    if users is not None:
        files["users.parquet"] = _frame_bytes(users)
    write_dir_atomically(Path(directory), files)


def read_artifact(directory: str | Path) -> dict[str, Any]:
    """Read what :func:`write_artifact` wrote; raises ``FileNotFoundError`` naming what is missing."""
    directory = Path(directory)
    for name in ("config.json", "ids.json", "weights.safetensors"):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory}: not an lgrec model directory (missing {name})")
    config = json.loads((directory / "config.json").read_text())
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{directory}: written by a newer lgrec (format {config['format_version']})")
    ids = json.loads((directory / "ids.json").read_text())
    tensors = load_file(str(directory / "weights.safetensors"))
    n_users, n_items = len(ids["users"]), len(ids["items"])
    seen = sp.csr_matrix(
        (
            np.ones(len(tensors["seen.indices"]), dtype=np.float32),
            tensors.pop("seen.indices").numpy(),
            tensors.pop("seen.indptr").numpy(),
        ),
        shape=(n_users, n_items),
    )
    metrics_path = directory / "metrics.json"
    out: dict[str, Any] = {
        "config": config,
        "user_ids": ids["users"],
        "item_ids": ids["items"],
        "tensors": tensors,
        "seen": seen,
        "metrics": json.loads(metrics_path.read_text()) if metrics_path.exists() else {},
        "items": None,
        "users": None,
    }
    for name in ("items", "users"):
        path = directory / f"{name}.parquet"
        if path.exists():
            out[name] = pd.read_parquet(path)
    return out
