"""Shared fixtures: the bundled dataset and its fixed split, loaded once per session."""

from __future__ import annotations

import pytest

from lgrec.data import Dataset, load_movielens100k

SEED = 2020


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    return load_movielens100k()


@pytest.fixture(scope="session")
def ml100k_split(ml100k: Dataset) -> tuple[Dataset, Dataset, Dataset]:
    return ml100k.split("random", valid=0.1, test=0.1, seed=SEED)
