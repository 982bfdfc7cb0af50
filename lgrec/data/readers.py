"""Readers for interaction and side-table files.

Every reader returns a plain :class:`pandas.DataFrame` and raises :class:`DataError` naming the
file, the line and the field when the input cannot be used. Line numbers are the ones a text
editor shows (the header is line 1).
"""

from __future__ import annotations

import difflib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lgrec.data.errors import DataError

log = logging.getLogger(__name__)

TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".inter": "\t", ".item": "\t",
                   ".user": "\t", ".txt": "\t"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of an interaction file hold what.

    Only ``user`` and ``item`` are required; the others are read when named.
    """

    user: str = "user_id"
    """Column with the external user id."""
    item: str = "item_id"
    """Column with the external item id."""
    rating: str | None = None
    """Optional explicit rating (numeric); used by ``rating_threshold``."""
    weight: str | None = None
    """Optional interaction weight (numeric), e.g. a play count."""
    timestamp: str | None = None
    """Optional time of the interaction: unix seconds or an ISO-8601 date."""

    def optional(self) -> dict[str, str]:
        """Canonical name -> source column for the optional columns that are set."""
        pairs = {"rating": self.rating, "weight": self.weight, "timestamp": self.timestamp}
        return {canon: col for canon, col in pairs.items() if col}


def _decode(raw: bytes, path: Path, encoding: str | None) -> str:
    codec = encoding or "utf-8-sig"
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.start + 1].hex()
        raise DataError(
            f"cannot decode byte 0x{bad} as {codec}; save the file as UTF-8 "
            "or pass the file's encoding",
            path=path,
            line=line,
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding '{encoding}'", path=path) from None


def read_table(
    path: str | Path, *, sep: str | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file with every column as text.

    Text files keep blank lines as rows so that row ``i`` is line ``i + 2`` of the file;
    the validators rely on that to name lines.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("expected a file, found a directory", path=path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated types
            raise DataError(f"not a readable Parquet file ({err})", path=path) from None
        if frame.empty:
            raise DataError("file has no rows", path=path)
        return frame
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", path=path)
    text = _decode(raw, path, encoding)
    separator = sep or TEXT_SEPARATORS.get(suffix, ",")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as err:
        raise DataError(f"malformed row: {err}", path=path) from None
    # A trailing blank line at the very end is not data.
    while len(frame) and (frame.iloc[-1] == "").all():
        frame = frame.iloc[:-1]
    if frame.empty:
        raise DataError("file has a header but no rows", path=path, line=2)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _line_of(frame_row: int, parquet: bool) -> int:
    return frame_row + 1 if parquet else frame_row + 2


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path | None) -> None:
    """Raise a DataError for the first named column that the frame lacks."""
    available = [str(c) for c in frame.columns]
    for column in columns:
        if column not in available:
            guess = difflib.get_close_matches(column, available, n=1, cutoff=0.5)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            raise DataError(
                f"missing column (columns found: {', '.join(available)}){hint}",
                path=path,
                line=1 if path is not None and path.suffix.lower() not in PARQUET_SUFFIXES else None,
                field=column,
            )


def _as_id(values: pd.Series, field: str, path: Path | None, parquet: bool) -> pd.Series:
    ids = values.astype(str).str.strip()
    empty = (ids == "") | values.isna().to_numpy()
    _raise_at_first(empty.to_numpy(), lambda row: "empty id", field, path, parquet)
    return ids


def _raise_at_first(bad: np.ndarray, message: Callable[[int], str], field: str,
                    path: Path | None, parquet: bool) -> None:
    """Raise a DataError naming the line of the first row that ``bad`` flags, if any; ``message``
    gets that row's position."""
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(message(row), path=path, line=_line_of(row, parquet), field=field)


def _as_number(values: pd.Series, field: str, path: Path | None, parquet: bool) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    _raise_at_first(numbers.isna().to_numpy(),
                    lambda row: f"expected a number, found {values.iloc[row]!r}",
                    field, path, parquet)
    return numbers.to_numpy(dtype=np.float64)


def _as_timestamp(values: pd.Series, field: str, path: Path | None, parquet: bool) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return _unix_seconds(pd.to_datetime(values, utc=True))
    numbers = pd.to_numeric(values, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=np.float64)
    if not np.isnan(numbers.iloc[0]):
        # The column starts numeric: the first non-number is the error, not the whole column.
        return _as_number(values, field, path, parquet)
    dates = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    _raise_at_first(dates.isna().to_numpy(),
                    lambda row: f"expected unix seconds or an ISO-8601 date, found "
                                f"{values.iloc[row]!r}",
                    field, path, parquet)
    return _unix_seconds(dates)


def _unix_seconds(dates: pd.Series) -> np.ndarray:
    # Division by a Timedelta is independent of the datetime unit (ns in pandas 2, us in 3).
    epoch = pd.Timestamp(0, tz="UTC")
    return ((dates - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def canonical_interactions(
    frame: pd.DataFrame, columns: ColumnMap, path: str | Path | None = None
) -> pd.DataFrame:
    """Validate a raw interaction frame and rename it to ``user, item[, rating, weight, timestamp]``.

    Ids stay external strings; numeric fields become floats. ``path`` only labels errors.
    """
    path = Path(path) if path is not None else None
    parquet = path is not None and path.suffix.lower() in PARQUET_SUFFIXES
    optional = columns.optional()
    require_columns(frame, [columns.user, columns.item, *optional.values()], path)
    if frame.empty:
        raise DataError("no interactions", path=path)
    out = pd.DataFrame(
        {
            "user": _as_id(frame[columns.user], columns.user, path, parquet).to_numpy(),
            "item": _as_id(frame[columns.item], columns.item, path, parquet).to_numpy(),
        }
    )
    for canon, source in optional.items():
        if canon == "timestamp":
            out[canon] = _as_timestamp(frame[source], source, path, parquet)
        else:
            out[canon] = _as_number(frame[source], source, path, parquet)
    return out


def read_interactions(
    path: str | Path,
    columns: ColumnMap | None = None,
    *,
    sep: str | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read and validate an interaction file (CSV, TSV, Parquet or RecBole ``.inter``)."""
    path = Path(path)
    if path.suffix.lower() == ".inter":
        frame = read_recbole_atomic(path, encoding=encoding)
        columns = columns or _recbole_columns(frame)
    else:
        frame = read_table(path, sep=sep, encoding=encoding)
    return canonical_interactions(frame, columns or ColumnMap(), path)


def _recbole_columns(frame: pd.DataFrame) -> ColumnMap:
    present = set(frame.columns)
    return ColumnMap(
        user="user_id",
        item="item_id",
        rating="rating" if "rating" in present else None,
        timestamp="timestamp" if "timestamp" in present else None,
    )


def read_recbole_atomic(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read a RecBole atomic file (``.inter``, ``.item``, ``.user``, ``.kg``, ``.link``).

    The header's ``name:type`` fields lose their type suffix; ``token_seq`` values stay as
    space-separated text.
    """
    frame = read_table(path, sep="\t", encoding=encoding)
    names = []
    for column in frame.columns:
        name, _, kind = column.partition(":")
        if kind and kind not in {"token", "token_seq", "float", "float_seq"}:
            raise DataError(
                f"unknown RecBole field type '{kind}' (expected token, token_seq, float "
                "or float_seq)",
                path=path,
                line=1,
                field=column,
            )
        names.append(name)
    frame.columns = names
    return frame


def read_lightgcn(path: str | Path) -> pd.DataFrame:
    """Read a LightGCN ``train.txt``/``test.txt``: one line per user, ``user item item ...``."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", path=path)
    text = _decode(raw, path, None)
    users: list[str] = []
    items: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        for position, token in enumerate(tokens):
            if not token.isdigit():
                field = "user" if position == 0 else f"item {position}"
                raise DataError(
                    f"expected a non-negative integer id, found {token!r}",
                    path=path,
                    line=number,
                    field=field,
                )
        users.extend([tokens[0]] * (len(tokens) - 1))
        items.extend(tokens[1:])
    if not users:
        raise DataError("no interactions in file", path=path)
    return pd.DataFrame({"user": users, "item": items})


def read_side_table(
    path: str | Path, key: str, *, sep: str | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read an item or user table (CSV, TSV, Parquet, RecBole ``.item``/``.user``) indexed by ``key``."""
    path = Path(path)
    if path.suffix.lower() in {".item", ".user"}:
        frame = read_recbole_atomic(path, encoding=encoding)
    else:
        frame = read_table(path, sep=sep, encoding=encoding)
    require_columns(frame, [key], path)
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    ids = _as_id(frame[key], key, path, parquet)
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise DataError(
            f"duplicate id {ids.iloc[row]!r}", path=path, line=_line_of(row, parquet), field=key
        )
    frame = frame.drop(columns=[key])
    frame.index = pd.Index(ids.to_numpy(), name=key)
    return frame
