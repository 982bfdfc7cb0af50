"""Checkpoints as safetensors + JSON (never pickle): model, optimizer state, trainer state."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            key = f"{index}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().cpu().contiguous()
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def write_dir_atomically(target: Path, files: dict[str, bytes | str]) -> None:
    """Write ``files`` into a fresh temporary directory beside ``target``, then swap it in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(tmp / name, mode) as handle:
                handle.write(content)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside and removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    source.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(
    directory: Path,
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    trainer_state: dict[str, Any],
) -> None:
    """Write ``directory/name/`` with model.safetensors, optimizer.safetensors and state.json."""
    import safetensors.torch as st

    model_bytes = st.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    files: dict[str, bytes | str] = {"model.safetensors": model_bytes}
    meta: dict[str, Any] = {"trainer": trainer_state}
    if optimizer is not None:
        tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        files["optimizer.safetensors"] = st.save(tensors)
    files["state.json"] = json.dumps(meta, indent=1)
    write_dir_atomically(Path(directory) / name, files)


def load_checkpoint(
    directory: Path,
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any] | None:
    """Restore a checkpoint written by :func:`save_checkpoint`; ``None`` if there is none."""
    path = Path(directory) / name
    if not (path / "state.json").exists():
        return None
    meta = json.loads((path / "state.json").read_text())
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    if optimizer is not None and "optimizer" in meta:
        tensors = load_file(str(path / "optimizer.safetensors"), device=str(device))
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    return meta["trainer"]


__all__ = ["load_checkpoint", "replace_dir", "save_checkpoint", "write_dir_atomically"]
