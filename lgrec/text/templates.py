"""Turning table rows into text for language models.

Generic on purpose: nothing here knows about a particular dataset. Two ways to write a row:

* label style (default): ``"Title: Toy Story. Year: 1995. Genres: Animation, Comedy"`` built
  from ``label: value`` parts, empty values left out;
* a ``str.format`` template: ``"{title} ({year}). Genres: {genres}"``, where fields of empty
  values become empty and the brackets or separators they leave behind are tidied away.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

LIST_JOINER = ", "


def humanize(column: str) -> str:
    """Turn a column name into a label: ``"release_year:token"`` -> ``"Release year"``.

    A ``:type`` suffix (RecBole atomic files) is dropped and ``_`` and ``-`` become spaces.
    """
    name = column.split(":", 1)[0]
    name = re.sub(r"[_\-]+", " ", name).strip()
    return name[:1].upper() + name[1:] if name else column


def is_missing(value: Any) -> bool:
    """True for ``None``, NaN, ``pd.NA``/``NaT`` and blank strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return all(is_missing(v) for v in value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_value(value: Any, as_list: bool = False, list_sep: str | None = None) -> str:
    """Render one cell as text, ``""`` when missing.

    Lists, tuples, sets and arrays are joined with ``", "``. With ``as_list`` a string is a list
    of tokens separated by ``list_sep`` (whitespace when ``None``), also joined with ``", "``.
    Whole floats lose their ``.0`` (a year column read as float because of gaps still reads
    ``1995``).
    """
    if is_missing(value):
        return ""
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return LIST_JOINER.join(format_value(v) for v in items if not is_missing(v))
    if isinstance(value, str):
        text = " ".join(value.split())
        if as_list:
            parts = text.split(list_sep) if list_sep is not None else text.split()
            return LIST_JOINER.join(p.strip() for p in parts if p.strip())
        return text
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return f"{float(value):g}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return " ".join(str(value).split())


# Brackets left empty by a missing field, and separators left doubled or dangling.
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}|\"\s*\"")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_REPEATED_PUNCT = re.compile(r"([.,;:])(?:\s*[.,;:])+")
# Sentence-like segments of a template: "{title} ({year}). Genres: {genres}" has two.
_SEGMENT_END = re.compile(r"(?<=[.;!?])\s+")


def _tidy(text: str) -> str:
    """Remove what empty fields leave behind inside one formatted segment."""
    text = _EMPTY_BRACKETS.sub("", text)
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    return text.strip(" ,;:")


def _split_template(template: str) -> list[str]:
    """Split a template into sentence-like segments, each keeping its trailing punctuation.

    A segment whose fields are all empty is dropped whole, taking its label ("Genres:") with
    it. Splitting is skipped when it would cut through a ``{...}`` field.
    """
    segments = _SEGMENT_END.split(template)
    if any(seg.count("{") != seg.count("}") for seg in segments):
        return [template]
    return segments


def _format_template(segments: list[str], values: Mapping[str, str]) -> str:
    kept = []
    for segment in segments:
        fields = _template_fields(segment)
        if fields and all(not values[f] for f in fields):
            continue
        text = _tidy(segment.format_map(values))
        if text and text not in ".;!?":
            kept.append(text)
    result = " ".join(kept)
    if kept and segments and not segments[-1].rstrip().endswith((".", ";", "!", "?")):
        # The template ends without punctuation; do not let a dropped last segment leave the
        # previous segment's separator hanging at the end ("Alien." for "Alien").
        result = result.rstrip(".;")
    return result.strip()


def _typed_column_aliases(columns: Iterable[Any], fields: Iterable[str]) -> dict[str, str]:
    """Map ``"name:type"`` columns to ``"name"`` for template fields that name them so."""
    names = [str(c) for c in columns]
    aliases = {}
    for field in set(fields):
        if field in names:
            continue
        typed = [c for c in names if c.split(":", 1)[0] == field]
        if len(typed) == 1:
            aliases[typed[0]] = field
    return aliases


def _template_fields(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def rows_to_text(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    template: str | None = None,
    labels: Mapping[str, str | None] | None = None,
    list_columns: Iterable[str] = (),
    list_sep: str | None = None,
    sep: str = ". ",
) -> list[str]:
    """Write each row of ``frame`` as one text, in row order.

    Parameters
    ----------
    frame:
        The table, one row per item (or user).
    columns:
        Columns to use, in order. Defaults to the template's fields, else all columns.
    template:
        Optional ``str.format`` template over column names, e.g.
        ``"{title} ({year}). Genres: {genres}"``. Missing values format as empty and the
        empty brackets, dangling labels and doubled separators they leave are removed.
        Values are inserted as text. A field ``{title}`` also finds a typed column
        ``title:token_seq`` (RecBole atomic files), which ``str.format`` could not name.
    labels:
        Label per column for the label style; the default is the humanised column name
        (``"release_year"`` -> ``"Release year"``). A label of ``""`` or ``None`` writes the
        value alone, as one usually wants for a title.
    list_columns:
        Columns whose string values are token lists separated by ``list_sep`` (whitespace by
        default), written as ``"a, b, c"``. List-like cell values are always joined that way.
    sep:
        Separator between ``label: value`` parts in the label style.

    Returns
    -------
    list[str]
        One text per row; a row whose values are all missing gives ``""``.
    """
    if template is not None:
        fields = _template_fields(template)
        aliases = _typed_column_aliases(frame.columns, fields)
        if aliases:
            # "{title}" may name a "title:token_seq" column: format fields cannot hold ":".
            frame = frame.rename(columns=aliases)
            list_columns = [aliases.get(c, c) for c in list_columns]
            if columns is not None:
                columns = [aliases.get(c, c) for c in columns]
        if columns is None:
            columns = list(dict.fromkeys(fields))
        unknown = [f for f in fields if f not in frame.columns]
        if unknown:
            raise KeyError(
                f"template fields {unknown} are not columns of the table "
                f"(columns: {list(frame.columns)})"
            )
    elif columns is None:
        columns = list(frame.columns)
    columns = list(columns)
    missing_cols = [c for c in columns if c not in frame.columns]
    if missing_cols:
        raise KeyError(
            f"columns {missing_cols} are not in the table (columns: {list(frame.columns)})"
        )
    segments = _split_template(template) if template is not None else []
    list_set = set(list_columns)
    labels = dict(labels or {})

    rendered = {
        col: [format_value(v, col in list_set, list_sep) for v in frame[col].tolist()]
        for col in columns
    }
    texts: list[str] = []
    for row in range(len(frame)):
        values = {col: rendered[col][row] for col in columns}
        if template is not None:
            texts.append(_format_template(segments, values))
            continue
        parts = []
        for col in columns:
            value = values[col]
            if not value:
                continue
            label = labels.get(col, humanize(col))
            parts.append(f"{label}: {value}" if label else value)
        texts.append(
            sep.join(p.rstrip(".") if i < len(parts) - 1 else p for i, p in enumerate(parts))
        )
    return texts
