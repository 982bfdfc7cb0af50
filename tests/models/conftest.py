"""Checks that the trained models' tests share: a brief fit on the bundled split, the
popularity floor, and the save/load round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lgrec import Recommender
from lgrec.data import Dataset

Split = tuple[Dataset, Dataset, Dataset]


@pytest.fixture(scope="session")
def fit_briefly(ml100k_split: Split) -> Callable[[str], Recommender]:
    """Fits a trainable model for a few epochs at a higher learning rate: enough to show that it
    learns, in under a minute. With ``valid`` its items are masked at test time too, as for the
    popularity baseline."""
    train, valid, _ = ml100k_split

    def fit(model: str) -> Recommender:
        return Recommender(model, epochs=4, lr=0.01, reg=1e-3, threads=1, progress=False).fit(
            train, valid=valid
        )

    return fit


@pytest.fixture(scope="session")
def popularity_ndcg(ml100k_split: Split) -> float:
    """Popularity's test NDCG@10 on the bundled split (validation items masked)."""
    train, valid, test = ml100k_split
    return Recommender("popularity").fit(train, valid=valid).evaluate(test, k=[10])["ndcg@10"]


@pytest.fixture
def check_round_trip(ml100k_split: Split, tmp_path: Path) -> Callable[[Recommender], Recommender]:
    """Saves a fitted recommender, loads it back and checks that the copy recommends and
    evaluates as the original does; returns the copy."""
    test = ml100k_split[2]

    def check(fitted: Recommender) -> Recommender:
        fitted.save(tmp_path / "artifact")
        loaded = Recommender.load(tmp_path / "artifact")
        assert loaded.recommend(["196", "1"], k=10) == fitted.recommend(["196", "1"], k=10)
        assert loaded.evaluate(test) == pytest.approx(fitted.evaluate(test))
        return loaded

    return check
