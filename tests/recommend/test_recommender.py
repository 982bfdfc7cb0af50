"""The facade: external ids in and out, batch-first calls, save/load without pickle."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lgrec import Recommender
from lgrec.graph import Graph
from lgrec.models import create_model
from lgrec.train import Trainer


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



@pytest.fixture(scope="module")
def merged_graph(ml100k_split):
    """The graph of the training and validation interactions together."""
    train, valid, _ = ml100k_split
    return Graph.from_interactions(np.concatenate([train.users_array, valid.users_array]),
                                   np.concatenate([train.items_array, valid.items_array]),
                                   train.n_users, train.n_items)


def test_refit_trains_on_train_and_valid_as_validation_chose(ml100k_split, merged_graph,
                                                            tmp_path):
    train, valid, _ = ml100k_split
    # Without L2 MF overfits within a few epochs; halving the rate on the first miss lets it
    # find a later best, so the chosen epochs ran at more than one rate.
    common = dict(dim=16, epochs=30, lr=0.05, reg=0.0, patience=3, lr_decay_patience=1,
                  progress=False, threads=1)
    first = Recommender("mf", **common).fit(train, valid=valid)
    refitted = Recommender("mf", refit=True, **common).fit(train, valid=valid)
    best = first.best_epoch_
    assert 0 < best < first.epochs_ and refitted.best_epoch_ == best
    assert refitted.refit_epochs_ == best and first.refit_epochs_ == 0
    assert len(set(first.lr_schedule_[:best])) > 1
    # Validation figures are the first fit's, the refitted model having seen those interactions.
    assert ([h["metrics"] for h in refitted.history_]
            == [h["metrics"] for h in first.history_])  # elapsed_s differs
    # Known answer: a fresh model trained on both parts for the best epoch count, each epoch at
    # the rate it had in the first fit.
    config = replace(refitted.train_config_, epochs=best, refit=False,
                     lr_schedule=tuple(first.lr_schedule_[:best]))
    torch.manual_seed(config.seed)
    model = create_model("mf", train.n_users, train.n_items, dim=16)
    Trainer(config).fit(model, merged_graph, None)
    with torch.no_grad():
        users, items = model(merged_graph)
    torch.testing.assert_close(refitted.user_vectors_, users)
    torch.testing.assert_close(refitted.item_vectors_, items)
    assert not torch.allclose(first.user_vectors_, users)
    assert refitted.item_degree_.sum() == len(train) + len(valid)
    assert 0 < refitted.refit_seconds_ < refitted.fit_seconds_
    loaded = Recommender.load(refitted.save(tmp_path / "refitted"))
    assert (loaded.refit_epochs_, loaded.refit_seconds_) == (best, refitted.refit_seconds_)


def test_refit_fits_a_closed_form_model_again_on_train_and_valid(ml100k_split, merged_graph):
    train, valid, _ = ml100k_split
    first = Recommender("graph-filter", rank=32, progress=False).fit(train, valid=valid)
    refitted = Recommender("graph-filter", rank=32, refit=True, progress=False).fit(
        train, valid=valid)
    assert refitted.metrics_["valid"] == first.metrics_["valid"]
    assert refitted.refit_epochs_ == 0 and refitted.refit_seconds_ > 0
    direct = create_model("graph-filter", train.n_users, train.n_items, rank=32)
    direct.fit_closed_form(merged_graph.R)
    rows = torch.arange(50)
    expected = direct.score_users(rows, *direct(merged_graph))
    got = refitted.model_.score_users(rows, refitted.user_vectors_, refitted.item_vectors_)
    torch.testing.assert_close(got, expected)
