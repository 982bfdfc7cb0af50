"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def metrics_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A table with one row per named result and one column per ``metric@k``.

    >>> print(metrics_table({"test": {"ndcg@10": 0.3, "recall@10": 0.2}}))
    """
    columns: list[str] = []
    for values in rows.values():
        for key in values:
            if key not in columns:
                columns.append(key)
    from lgrec.eval.metrics import METRICS  # lazily: lgrec.eval pulls in torch

    order = {m: i for i, m in enumerate(METRICS)}
    columns.sort(key=lambda c: (int(c.split("@")[1]), order.get(c.split("@")[0], 99)))
    name_width = max(len(n) for n in rows) if rows else 4
    widths = [max(len(c), 6) for c in columns]
    header = " " * name_width + "  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))
    lines = [header]
    for name, values in rows.items():
        cells = [
            (f"{values[c]:.4f}" if c in values else "-").rjust(w)
            for c, w in zip(columns, widths, strict=True)
        ]
        lines.append(name.ljust(name_width) + "  " + "  ".join(cells))
    return "\n".join(lines)


def ranked_list(title: str, entries: Sequence[tuple[str, str, float]]) -> str:
    """``title`` then ``rank. label  (id, score)`` lines."""
    lines = [title]
    for rank, (item, label, score) in enumerate(entries, start=1):
        lines.append(f"  {rank:>2}. {label}  [{item}, {score:.3f}]")
    return "\n".join(lines)


def format_explanation(explanation: Any) -> str:
    """An :class:`lgrec.recommend.Explanation` as a few readable lines."""
    lines = [f"{explanation.title} [{explanation.item}] for user {explanation.user} "
             f"(score {explanation.score:.3f}):"]
    for e in explanation.evidence:
        text = "" if e.text_similarity is None else f", text similarity {e.text_similarity:.2f}"
        lines.append(f"  - you have {e.title} [{e.item}]: graph contribution "
                     f"{e.contribution:.3f}, {e.co_users} users have both{text}")
    if explanation.sentence:
        lines.append(f"  {explanation.sentence}")
    return "\n".join(lines)
