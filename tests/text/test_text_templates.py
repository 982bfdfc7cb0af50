"""Rows to text: label style, templates, missing values and token lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lgrec.text import rows_to_text
from lgrec.text.templates import format_value, humanize, is_missing


@pytest.fixture
def movies() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "movie_title": ["Toy Story", "GoldenEye", None, "Alien"],
            "release_year": [1995, 1995, 2000, np.nan],
            "class": ["Animation Children's Comedy", "Action Adventure Thriller", None, "  "],
        }
    )


def test_template_matches_catalogue_style(movies: pd.DataFrame) -> None:
    texts = rows_to_text(
        movies,
        template="{movie_title} ({release_year}). Genres: {class}",
        list_columns=["class"],
    )
    assert texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert texts[1] == "GoldenEye (1995). Genres: Action, Adventure, Thriller"
    # Missing title: only the year is left, without a dangling "Genres:".
    assert texts[2] == "(2000)"
    # Missing year and blank genres: empty brackets and the empty label segment disappear.
    assert texts[3] == "Alien"


def test_label_style_humanises_names_and_skips_missing(movies: pd.DataFrame) -> None:
    texts = rows_to_text(
        movies,
        ["movie_title", "release_year", "class"],
        labels={"movie_title": None, "class": "Genres"},
        list_columns=["class"],
    )
    assert texts[0] == "Toy Story. Release year: 1995. Genres: Animation, Children's, Comedy"
    assert texts[2] == "Release year: 2000"
    assert texts[3] == "Alien"


def test_default_columns_and_labels() -> None:
    frame = pd.DataFrame({"title:token_seq": ["Heat"], "year:token": [1995]})
    assert rows_to_text(frame) == ["Title: Heat. Year: 1995"]


def test_list_cells_and_custom_separator() -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "tags": [["x", None, "y"], "p|q| r"]}, dtype=object)
    texts = rows_to_text(frame, ["name", "tags"], list_columns=["tags"], list_sep="|")
    assert texts == ["Name: a. Tags: x, y", "Name: b. Tags: p, q, r"]


def test_all_missing_row_gives_empty_text() -> None:
    frame = pd.DataFrame({"a": [None, "x"], "b": [np.nan, 1.5]})
    assert rows_to_text(frame) == ["", "A: x. B: 1.5"]
    assert rows_to_text(frame, template="{a} ({b})") == ["", "x (1.5)"]


def test_unknown_columns_are_named() -> None:
    frame = pd.DataFrame({"title": ["x"]})
    with pytest.raises(KeyError, match="genre"):
        rows_to_text(frame, ["title", "genre"])
    with pytest.raises(KeyError, match="year"):
        rows_to_text(frame, template="{title} ({year})")


def test_value_helpers() -> None:
    assert humanize("release_year:token") == "Release year"
    assert format_value(1995.0) == "1995"
    assert format_value(pd.NA) == ""
    assert format_value(pd.Timestamp("2020-01-02")) == "2020-01-02"
    assert format_value(True) == "yes"
    assert format_value("  two   spaces ") == "two spaces"
    assert is_missing(float("nan")) and is_missing("   ") and is_missing([None, ""])
    assert not is_missing(0)


def test_template_fields_find_typed_columns() -> None:
    frame = pd.DataFrame(
        {"movie_title:token_seq": ["Toy Story"], "class:token_seq": ["Animation Comedy"]}
    )
    texts = rows_to_text(
        frame, template="{movie_title}. Genres: {class}", list_columns=["class:token_seq"]
    )
    assert texts == ["Toy Story. Genres: Animation, Comedy"]
