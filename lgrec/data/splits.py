"""Train/validation/test splits, deterministic under a seed and savable to files.

Methods:

- ``random``: per user, a random ``valid`` and ``test`` share of that user's interactions
  (RecBole's ``RS`` grouped by user, including its rounding of small shares).
- ``temporal``: per user, the latest interactions go to test and the ones before to valid.
- ``global-temporal``: one time cut for everybody: the latest ``test`` share of all
  interactions is test, the ``valid`` share before it is validation.
- ``loo``: leave-one-out per user: the last interaction (by time, random without timestamps)
  is test, the one before is validation; users with fewer than 3 interactions stay in train.
- ``cold-item``: a random ``test`` share of the items moves to test with all their
  interactions (and a ``valid`` share to validation), so test items never occur in training.
- ``cold-user``: the same with users.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lgrec.data.dataset import ColumnMap, Dataset
from lgrec.data.errors import DataError
from lgrec.data.readers import read_interactions

METHODS = ("random", "temporal", "global-temporal", "loo", "cold-item", "cold-user")
TRAIN, VALID, TEST = 0, 1, 2


def split(
    dataset: Dataset,
    method: str = "random",
    *,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
) -> tuple[Dataset, Dataset, Dataset]:
    """Split ``dataset`` into ``(train, valid, test)`` sharing its id maps."""
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; choose one of {', '.join(METHODS)}")
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise ValueError("valid and test must be shares in [0, 1) adding up to less than 1")
    rng = np.random.default_rng(seed)
    frame = dataset.interactions
    has_time = "timestamp" in frame
    if method in {"temporal", "global-temporal"} and not has_time:
        raise DataError(f"the {method} split needs timestamps", field="timestamp")
    # Random tie-breaker first so that equal timestamps are ordered reproducibly.
    noise = rng.random(len(frame))
    if method in {"cold-item", "cold-user"}:
        column = "item" if method == "cold-item" else "user"
        assignment = _cold_assignment(frame[column].to_numpy(), rng, valid, test)
    elif method == "global-temporal":
        order = np.lexsort((noise, frame["timestamp"].to_numpy()))
        n = len(frame)
        n_test, n_valid = int(n * test + 1e-9), int(n * valid + 1e-9)
        assignment = np.full(n, TRAIN, dtype=np.int8)
        assignment[order[n - n_test :]] = TEST
        assignment[order[n - n_test - n_valid : n - n_test]] = VALID
    else:
        users = frame["user"].to_numpy()
        key = frame["timestamp"].to_numpy() if method != "random" and has_time else noise
        order = np.lexsort((noise, key, users))
        sorted_users = users[order]
        starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        rank = np.arange(len(order)) - np.repeat(starts, sizes)
        size = np.repeat(sizes, sizes)
        if method == "loo":
            n_test = (size >= 3).astype(np.int64)
            n_valid = (size >= 3).astype(np.int64) if valid > 0 else np.zeros_like(size)
        else:
            n_test, n_valid = _ratio_counts(size, valid, test)
        sorted_assignment = np.where(
            rank >= size - n_test, TEST, np.where(rank >= size - n_test - n_valid, VALID, TRAIN)
        ).astype(np.int8)
        assignment = np.empty(len(frame), dtype=np.int8)
        assignment[order] = sorted_assignment
    return (
        dataset.subset(assignment == TRAIN, "train"),
        dataset.subset(assignment == VALID, "valid"),
        dataset.subset(assignment == TEST, "test"),
    )


def _cold_assignment(
    entities: np.ndarray, rng: np.random.Generator, valid: float, test: float
) -> np.ndarray:
    """Assign whole entities (items or users) to train, valid or test by share of entities."""
    present = np.unique(entities)
    order = rng.permutation(present)
    n_test, n_valid = int(len(present) * test + 1e-9), int(len(present) * valid + 1e-9)
    role = np.full(int(present.max()) + 1, TRAIN, dtype=np.int8)
    role[order[:n_test]] = TEST
    role[order[n_test : n_test + n_valid]] = VALID
    return role[entities]


def cold_entities(part: Dataset, kind: str = "item") -> np.ndarray:
    """Internal indices of the items (or users) that occur in ``part`` (e.g. a cold test set)."""
    return np.unique(part.items_array if kind == "item" else part.users_array)


def _ratio_counts(size: np.ndarray, valid: float, test: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-user test and valid counts, rounding like RecBole's ``split_by_ratio``.

    Floors the shares, then gives a share that floored to zero one interaction as long as
    more than one is left for training.
    """
    n_test = np.floor(size * test + 1e-9).astype(np.int64)
    n_valid = np.floor(size * valid + 1e-9).astype(np.int64)
    n_train = size - n_test - n_valid
    for count, share in ((n_test, test), (n_valid, valid)):
        bump = (n_train > 1) & (size * share > 0) & (size * share < 1)
        count += bump
        n_train -= bump
    return n_test, n_valid


def save_split(
    directory: str | Path, parts: dict[str, Dataset], *, fmt: str = "csv"
) -> list[Path]:
    """Write each part as ``DIR/<name>.csv`` (or ``.tsv``/``.parquet``) with external ids."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, part in parts.items():
        frame = part.to_frame().rename(columns={"user": "user_id", "item": "item_id"})
        path = directory / f"{name}.{fmt}"
        tmp = path.with_name(path.name + ".tmp")
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, sep="\t" if fmt == "tsv" else ",")
        tmp.replace(path)
        written.append(path)
    return written


def load_split(
    directory: str | Path, names: tuple[str, ...] = ("train", "valid", "test"), **options
) -> dict[str, Dataset]:
    """Read a split written by :func:`save_split` back with one shared id space."""
    directory = Path(directory)
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        candidates = [directory / f"{name}.{ext}" for ext in ("csv", "tsv", "parquet")]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise DataError(f"no {name}.csv, {name}.tsv or {name}.parquet", path=directory)
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else None
        columns = ColumnMap(
            "user_id",
            "item_id",
            *[c if c in _header(path, raw) else None for c in ("rating", "weight", "timestamp")],
        )
        frames[name] = read_interactions(path, columns)
    return Dataset.from_frames(frames, dedup=None, **options)


def _header(path: Path, frame: pd.DataFrame | None) -> list[str]:
    if frame is not None:
        return list(frame.columns)
    with path.open(encoding="utf-8") as handle:
        line = handle.readline().rstrip("\n")
    return line.split("\t" if path.suffix == ".tsv" else ",")
