"""The bundled MovieLens-100K dataset (GroupLens; see ``lgrec/datasets/ml-100k/LICENSE``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from lgrec.data.dataset import Dataset

BUNDLED = ("ml-100k",)

ML100K_ITEM_TEMPLATE = "{movie_title} ({release_year}). Genres: {class}"
"""How MovieLens-100K item rows read as text, e.g. "Toy Story (1995). Genres: Animation ..."."""


def bundled_path(name: str = "ml-100k") -> Path:
    """Directory of a bundled dataset, in RecBole atomic format."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled dataset {name!r}; bundled: {', '.join(BUNDLED)}")
    return Path(str(resources.files("lgrec.datasets").joinpath(name)))


def load_movielens100k(**options: Any) -> Dataset:
    """MovieLens-100K: 100,000 ratings as implicit interactions, with titles, years, genres
    and user demographics as side tables.

    Options are those of :meth:`Dataset.from_frame` (e.g. ``rating_threshold=4``).
    """
    return Dataset.from_recbole(bundled_path("ml-100k"), **options)
