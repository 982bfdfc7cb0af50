"""One entry point that turns a path (or a bundled dataset's name) into a :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lgrec.data.bundled import BUNDLED, load_movielens100k
from lgrec.data.dataset import Dataset
from lgrec.data.errors import DataError
from lgrec.data.readers import ColumnMap

FORMATS = ("auto", "csv", "tsv", "parquet", "recbole", "lightgcn")


def detect_format(path: Path) -> str:
    """Guess the format from the path: a directory or ``.inter`` is RecBole, ``.txt`` LightGCN."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".inter":
        return "recbole"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix in {".tsv", ".tab"}:
        return "tsv"
    if suffix == ".txt":
        return "lightgcn"
    return "csv"


def load_dataset(
    source: str | Path,
    *,
    format: str = "auto",
    columns: ColumnMap | None = None,
    items: str | Path | None = None,
    users: str | Path | None = None,
    item_key: str | None = None,
    user_key: str | None = None,
    encoding: str | None = None,
    **options: Any,
) -> Dataset:
    """Load interactions from ``source``: a bundled name (``ml-100k``), a CSV/TSV/Parquet file,
    a RecBole ``.inter`` file or directory, or a LightGCN ``train.txt``.

    ``options`` go to :meth:`Dataset.from_frame` (``rating_threshold``, ``dedup``,
    ``min_user_interactions``, ``min_item_interactions``).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if str(source) in BUNDLED:
        return load_movielens100k(**options)
    path = Path(source)
    if not path.exists():
        hint = f" (bundled datasets: {', '.join(BUNDLED)})"
        raise DataError(f"no such file or directory{hint}", path=path)
    kind = detect_format(path) if format == "auto" else format
    if kind == "recbole":
        return Dataset.from_recbole(path, **options)
    if kind == "lightgcn":
        frame = Dataset.from_lightgcn(path).to_frame()
        return Dataset.from_frame(frame, name=path.stem, **{"dedup": "first", **options})
    sep = "\t" if kind == "tsv" else ("," if kind == "csv" else None)
    return Dataset.from_files(
        path,
        columns,
        items=items,
        users=users,
        item_key=item_key,
        user_key=user_key,
        sep=sep,
        encoding=encoding,
        **options,
    )
