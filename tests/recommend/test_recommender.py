"""The facade: external ids in and out, batch-first calls, save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lgrec import Recommender


@pytest.fixture(scope="module")
def fitted(ml100k_split):
    train, valid, _ = ml100k_split
    return Recommender("mf", dim=16, epochs=3, lr=0.01, progress=False, threads=1).fit(
        train, valid=valid
    )


def test_recommend_takes_and_returns_external_ids(fitted, ml100k_split):
    train, valid, _ = ml100k_split
    lists = fitted.recommend(["196", "1"], k=5)
    assert len(lists) == 2 and all(len(items) == 5 for items in lists)
    single = fitted.recommend("196", k=5)
    # Same ranking; scores agree up to float rounding of batched matrix products.
    assert [e.item for e in single] == [e.item for e in lists[0]]
    assert [e.score for e in single] == pytest.approx([e.score for e in lists[0]], rel=1e-5)
    assert all(isinstance(entry.item, str) for entry in single)
    scores = [entry.score for entry in single]
    assert scores == sorted(scores, reverse=True)
    # Seen items (train and valid) are masked by default.
    seen = set(train.to_frame().query("user == '196'")["item"]) | set(
        valid.to_frame().query("user == '196'")["item"]
    )
    assert not seen & {entry.item for entry in single}
    with_seen = fitted.recommend("196", k=200, exclude_seen=False)
    assert seen & {entry.item for entry in with_seen}


def test_unknown_user_is_named(fitted):
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        fitted.recommend(["196", "nobody"])


def test_similar_items_excludes_itself(fitted):
    similar = fitted.similar_items(["1", "50"], k=3)
    assert [len(s) for s in similar] == [3, 3]
    assert "1" not in {e.item for e in similar[0]}


def test_save_load_round_trip(fitted, ml100k_split, tmp_path):
    _, _, test = ml100k_split
    target = tmp_path / "model"
    fitted.save(target)
    files = sorted(p.name for p in target.iterdir())
    assert files == ["config.json", "ids.json", "items.parquet", "metrics.json", "users.parquet",
                     "weights.safetensors"]
    assert not any(p.suffix in {".pkl", ".pt", ".pickle"} for p in target.iterdir())
    assert json.loads((target / "config.json").read_text())["model"] == "mf"
    loaded = Recommender.load(target)
    assert [e.item for e in loaded.recommend("196", k=10)] == [
        e.item for e in fitted.recommend("196", k=10)
    ]
    assert loaded.evaluate(test) == pytest.approx(fitted.evaluate(test))
    assert loaded.item_titles(["1"]) == ["Toy Story"]
    # Saving again over an existing artifact replaces it whole, leaving no temporary folders.
    fitted.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_evaluate_maps_foreign_ids(fitted, ml100k_split):
    """A test set read separately (its own id maps) is evaluated through external ids."""
    from lgrec.data import Dataset

    _, _, test = ml100k_split
    reread = Dataset.from_frame(test.to_frame())
    assert reread.user_ids != test.user_ids
    assert fitted.evaluate(reread) == pytest.approx(fitted.evaluate(test))


def test_not_fitted():
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender("mf").recommend(["1"])


def test_popularity_recommends_the_most_frequent(ml100k_split):
    train, _, _ = ml100k_split
    rec = Recommender("popularity").fit(train)
    counts = np.bincount(train.items_array, minlength=train.n_items)
    top = train.item_ids.to_external(np.argsort(-counts, kind="stable")[:3]).tolist()
    unseen_user = rec.recommend("1", k=50, exclude_seen=False)
    assert [e.item for e in unseen_user[:3]] == top


def test_a_model_trained_on_a_gpu_evaluates_on_the_cpu_where_there_is_none(ml100k_split):
    import torch

    train, valid, test = ml100k_split
    rec = Recommender("popularity").fit(train, valid=valid)
    on_cpu = rec.evaluate(test, k=[10])
    rec.train_config_.device = "cuda"  # as saved by a fit on a GPU machine
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert rec._evaluation_device().type == expected
    assert rec.evaluate(test, k=[10]) == pytest.approx(on_cpu, abs=2e-3)
