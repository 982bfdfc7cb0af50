"""The ``Dataset``: interactions with external <-> internal id maps and side tables."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lgrec.data.errors import DataError
from lgrec.data.readers import (
    ColumnMap,
    canonical_interactions,
    read_interactions,
    read_lightgcn,
    read_side_table,
)

log = logging.getLogger(__name__)


class IdMap:
    """A bijection between external ids (strings) and internal indices ``0..n-1``."""

    def __init__(self, external: Iterable[Any]) -> None:
        self._external = np.asarray([str(e) for e in external], dtype=object)
        self._index = {e: i for i, e in enumerate(self._external)}
        if len(self._index) != len(self._external):
            raise ValueError("external ids must be unique")

    def __len__(self) -> int:
        return len(self._external)

    def __contains__(self, external: object) -> bool:
        return str(external) in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and (
            other is self or np.array_equal(other._external, self._external)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def external(self) -> np.ndarray:
        """All external ids in internal order (read-only view)."""
        view = self._external.view()
        view.flags.writeable = False
        return view

    def to_internal(self, ids: Iterable[Any], *, kind: str = "id") -> np.ndarray:
        """Map external ids to indices; an unknown id raises ``KeyError`` naming it."""
        ids = list(ids)
        out = self.lookup(ids)
        missing = np.flatnonzero(out < 0)
        if len(missing):
            raise KeyError(f"unknown {kind} {ids[missing[0]]!r}")
        return out

    def lookup(self, ids: Iterable[Any]) -> np.ndarray:
        """Map external ids to indices, ``-1`` for unknown ones."""
        return np.fromiter((self._index.get(str(e), -1) for e in ids), dtype=np.int64, count=-1)

    def to_external(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Map internal indices back to external ids."""
        return self._external[np.asarray(indices, dtype=np.int64)]

    def extended(self, new_ids: Iterable[Any]) -> IdMap:
        """A new map with ``new_ids`` (those not already present) appended."""
        fresh = [str(e) for e in new_ids if str(e) not in self._index]
        return IdMap(np.concatenate([self._external, np.asarray(fresh, dtype=object)]))


class Dataset:
    """Interactions between users and items, with id maps and optional side tables.

    ``interactions`` holds internal indices in ``user`` and ``item`` (int64) and optionally
    ``rating``, ``weight`` and ``timestamp`` (float). Splits of one dataset share the id maps,
    so internal indices agree between train, validation and test.
    """

    def __init__(
        self,
        interactions: pd.DataFrame,
        user_ids: IdMap,
        item_ids: IdMap,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        name: str = "dataset",
    ) -> None:
        self.interactions = interactions.reset_index(drop=True)
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.items = items
        self.users = users
        self.name = name

    # ------------------------------------------------------------------ shape
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    def __len__(self) -> int:
        return self.n_interactions

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {self.n_users} users, {self.n_items} items, "
            f"{self.n_interactions} interactions)"
        )

    @property
    def users_array(self) -> np.ndarray:
        return self.interactions["user"].to_numpy(dtype=np.int64)

    @property
    def items_array(self) -> np.ndarray:
        return self.interactions["item"].to_numpy(dtype=np.int64)

    def csr(self, *, weighted: bool = False) -> sp.csr_matrix:
        """The user x item matrix as CSR (binary unless ``weighted`` and a weight exists)."""
        data = (
            self.interactions["weight"].to_numpy(dtype=np.float32)
            if weighted and "weight" in self.interactions
            else np.ones(self.n_interactions, dtype=np.float32)
        )
        matrix = sp.csr_matrix(
            (data, (self.users_array, self.items_array)), shape=(self.n_users, self.n_items)
        )
        matrix.sum_duplicates()
        if not weighted:
            matrix.data[:] = 1.0
        return matrix

    # ------------------------------------------------------------ derivation
    def subset(self, mask: np.ndarray, name: str | None = None) -> Dataset:
        """The interactions where ``mask`` holds, with the same id maps and side tables."""
        return Dataset(
            self.interactions[np.asarray(mask, dtype=bool)],
            self.user_ids,
            self.item_ids,
            items=self.items,
            users=self.users,
            name=name or self.name,
        )

    def to_frame(self) -> pd.DataFrame:
        """Interactions with external ids, ready to be written out."""
        frame = self.interactions.copy()
        frame["user"] = self.user_ids.to_external(frame["user"].to_numpy())
        frame["item"] = self.item_ids.to_external(frame["item"].to_numpy())
        return frame

    def item_titles(self, column: str | None = None) -> dict[str, str]:
        """External item id -> display title, from the first text-like column of ``items``."""
        if self.items is None or self.items.empty:
            return {}
        column = column or next(
            (c for c in self.items.columns if "title" in c.lower() or "name" in c.lower()),
            self.items.columns[0],
        )
        return self.items[column].astype(str).to_dict()

    def split(
        self,
        method: str = "random",
        *,
        valid: float = 0.1,
        test: float = 0.1,
        seed: int = 0,
    ) -> tuple[Dataset, Dataset, Dataset]:
        """Split into (train, valid, test); see :func:`lgrec.data.splits.split`."""
        from lgrec.data.splits import split

        return split(self, method, valid=valid, test=test, seed=seed)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        columns: ColumnMap | None = None,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        rating_threshold: float | None = None,
        dedup: str | None = "last",
        min_user_interactions: int = 0,
        min_item_interactions: int = 0,
        name: str = "dataset",
    ) -> Dataset:
        """Build a dataset from a frame of external ids.

        ``frame`` uses the names in ``columns`` (default ``user_id``/``item_id``), or already
        the canonical ``user``/``item``. See :func:`prepare_interactions` for the options.
        """
        canonical = _to_canonical(frame, columns)
        return cls.from_frames(
            {name: canonical},
            columns=ColumnMap("user", "item", *_canonical_optional(canonical)),
            items=items,
            users=users,
            rating_threshold=rating_threshold,
            dedup=dedup,
            min_user_interactions=min_user_interactions,
            min_item_interactions=min_item_interactions,
        )[name]

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        columns: ColumnMap | None = None,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        rating_threshold: float | None = None,
        dedup: str | None = "last",
        min_user_interactions: int = 0,
        min_item_interactions: int = 0,
    ) -> dict[str, Dataset]:
        """Build several datasets (e.g. a saved train/valid/test split) sharing one id space."""
        prepared = {
            key: prepare_interactions(
                _to_canonical(frame, columns),
                rating_threshold=rating_threshold,
                dedup=dedup,
            )
            for key, frame in frames.items()
        }
        if min_user_interactions or min_item_interactions:
            if len(prepared) != 1:
                raise ValueError("k-core filtering applies to one frame before splitting")
            key = next(iter(prepared))
            prepared[key] = k_core(prepared[key], min_user_interactions, min_item_interactions)
        all_users = pd.unique(np.concatenate([f["user"].to_numpy() for f in prepared.values()]))
        all_items = pd.unique(np.concatenate([f["item"].to_numpy() for f in prepared.values()]))
        user_ids, item_ids = IdMap(all_users), IdMap(all_items)
        user_index = pd.Index(user_ids.external)
        item_index = pd.Index(item_ids.external)
        out = {}
        for key, frame in prepared.items():
            internal = frame.copy()
            internal["user"] = user_index.get_indexer(frame["user"]).astype(np.int64)
            internal["item"] = item_index.get_indexer(frame["item"]).astype(np.int64)
            out[key] = cls(internal, user_ids, item_ids, items=items, users=users, name=key)
        return out

    @classmethod
    def from_files(
        cls,
        interactions: str | Path,
        columns: ColumnMap | None = None,
        *,
        items: str | Path | None = None,
        users: str | Path | None = None,
        item_key: str | None = None,
        user_key: str | None = None,
        sep: str | None = None,
        encoding: str | None = None,
        **options: Any,
    ) -> Dataset:
        """Read an interaction file (CSV/TSV/Parquet/RecBole ``.inter``) and optional side tables."""
        frame = read_interactions(interactions, columns, sep=sep, encoding=encoding)
        columns = columns or ColumnMap()
        item_table = (
            read_side_table(items, item_key or columns.item, sep=sep, encoding=encoding)
            if items
            else None
        )
        user_table = (
            read_side_table(users, user_key or columns.user, sep=sep, encoding=encoding)
            if users
            else None
        )
        options.setdefault("name", Path(interactions).stem)
        return cls.from_frame(frame, items=item_table, users=user_table, **options)

    @classmethod
    def from_recbole(cls, path: str | Path, **options: Any) -> Dataset:
        """Read RecBole atomic files: ``DIR`` (holding ``DIR/DIR.inter``) or a ``.inter`` path.

        The ``.item`` and ``.user`` files beside it, when present, become the side tables.
        """
        path = Path(path)
        inter = path / f"{path.name}.inter" if path.is_dir() else path
        if not inter.exists():
            raise DataError("RecBole .inter file not found", path=inter)
        stem = inter.with_suffix("")
        item_file, user_file = stem.with_suffix(".item"), stem.with_suffix(".user")
        frame = read_interactions(inter)
        items = read_side_table(item_file, "item_id") if item_file.exists() else None
        users = read_side_table(user_file, "user_id") if user_file.exists() else None
        options.setdefault("name", stem.name)
        return cls.from_frame(frame, items=items, users=users, **options)

    @classmethod
    def from_lightgcn(
        cls, train: str | Path, test: str | Path | None = None
    ) -> Dataset | tuple[Dataset, Dataset]:
        """Read LightGCN ``train.txt`` (and ``test.txt``, returning ``(train, test)``)."""
        frames = {"train": read_lightgcn(train)}
        if test is not None:
            frames["test"] = read_lightgcn(test)
        built = cls.from_frames(frames, dedup="first")
        return built["train"] if test is None else (built["train"], built["test"])


def _canonical_optional(frame: pd.DataFrame) -> tuple[str | None, str | None, str | None]:
    return tuple(c if c in frame.columns else None for c in ("rating", "weight", "timestamp"))


def _to_canonical(frame: pd.DataFrame, columns: ColumnMap | None) -> pd.DataFrame:
    if columns is None and {"user", "item"} <= set(frame.columns):
        columns = ColumnMap("user", "item", *_canonical_optional(frame))
    return canonical_interactions(frame, columns or ColumnMap())


def prepare_interactions(
    frame: pd.DataFrame,
    *,
    rating_threshold: float | None = None,
    dedup: str | None = "last",
) -> pd.DataFrame:
    """Turn explicit feedback into implicit and remove repeated (user, item) pairs.

    ``rating_threshold`` keeps rows whose rating is at least the threshold. ``dedup`` is
    ``"last"`` (keep the latest), ``"first"``, ``"sum"`` (add up weights) or ``None``.
    """
    if rating_threshold is not None:
        if "rating" not in frame:
            raise DataError("rating_threshold needs a rating column", field="rating")
        frame = frame[frame["rating"] >= rating_threshold]
    if dedup is None:
        return frame
    if "timestamp" in frame:
        frame = frame.sort_values("timestamp", kind="stable")
    if dedup == "sum":
        aggregations = {c: "last" for c in frame.columns if c not in {"user", "item"}}
        if "weight" in frame:
            aggregations["weight"] = "sum"
        else:
            frame = frame.assign(weight=1.0)
            aggregations["weight"] = "sum"
        return frame.groupby(["user", "item"], sort=False, as_index=False).agg(aggregations)
    if dedup not in {"first", "last"}:
        raise ValueError(f"dedup must be 'first', 'last', 'sum' or None, not {dedup!r}")
    return frame.drop_duplicates(["user", "item"], keep=dedup)


def k_core(frame: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    """Repeatedly drop users and items with fewer interactions than the minimums."""
    while True:
        user_counts = frame["user"].map(frame["user"].value_counts())
        item_counts = frame["item"].map(frame["item"].value_counts())
        keep = (user_counts >= min_user) & (item_counts >= min_item)
        if keep.all():
            return frame
        frame = frame[keep.to_numpy()]
        if frame.empty:
            raise DataError(
                f"k-core filtering (users >= {min_user}, items >= {min_item}) left no interactions"
            )
