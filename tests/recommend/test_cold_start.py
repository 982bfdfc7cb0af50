"""Cold start without retraining: fold-in users, new items from text, requests in language.

Uses the real bundled encoder (all-MiniLM-L6-v2) and short training runs on MovieLens-100K.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lgrec import Recommender

TEMPLATE = "{movie_title} ({release_year}). Genres: {class}"
USERS = ["196", "1", "405", "13", "500"]


@pytest.fixture(scope="module")
def text_model(ml100k_split):
    train, valid, _ = ml100k_split
    return Recommender(
        "text-lightgcn", item_template=TEMPLATE, epochs=3, loss="infonce", negatives=16,
        lr=0.002, temperature=0.15, reg=0.0, progress=False, threads=1,
    ).fit(train, valid=valid)


@pytest.fixture(scope="module")
def lightgcn(ml100k_split):
    train, valid, _ = ml100k_split
    return Recommender("lightgcn", epochs=15, lr=0.01, reg=1e-3, progress=False,
                       threads=1).fit(train, valid=valid)


def overlap_with_copies(rec: Recommender) -> list[int]:
    """Fold in a copy of each user from the same history; top-10 overlap with the original."""
    overlaps = []
    for user in USERS:
        row = rec.user_ids_.to_internal([user])[0]
        history = rec.item_ids_.to_external(rec.seen_[row].indices)
        rec.fold_in(f"copy-{user}", items=history)
        original = {e.item for e in rec.recommend(user, k=10)}
        copy = {e.item for e in rec.recommend(f"copy-{user}", k=10)}
        overlaps.append(len(original & copy))
    return overlaps


def test_folded_in_user_matches_trained_user_text_model(text_model):
    # Users' layer 0 is the mean of their items, so fold-in repeats training's formula.
    assert np.mean(overlap_with_copies(text_model)) >= 7


def test_folded_in_user_matches_trained_user_lightgcn(lightgcn):
    # LightGCN users also have a free layer-0 vector that fold-in can only approximate.
    overlaps = overlap_with_copies(lightgcn)
    assert np.mean(overlaps) >= 5
    random_pairs = [
        len({e.item for e in lightgcn.recommend(a, k=10)} & {e.item for e in lightgcn.recommend(b, k=10)})
        for a, b in zip(USERS, USERS[1:], strict=False)
    ]
    assert np.mean(overlaps) > np.mean(random_pairs) + 2


def test_fold_in_extends_a_known_user_and_masks_new_items(lightgcn):
    before = lightgcn.recommend("196", k=5)
    lightgcn.fold_in("196", items=[before[0].item])
    after = {e.item for e in lightgcn.recommend("196", k=5)}
    assert before[0].item not in after


def test_new_item_from_text_reaches_the_fans_of_its_twin(text_model, ml100k_split):
    train = ml100k_split[0]
    twin = pd.DataFrame(
        {"movie_title": ["Toy Story 2"], "release_year": ["1995"],
         "class": ["Animation Children's Comedy"]},
        index=["toy-story-twin"],
    )
    assert text_model.add_items(twin) == ["toy-story-twin"]
    frame = train.to_frame()
    fans = frame.loc[frame["item"] == "1", "user"].unique()[:200]
    others = np.setdiff1d(train.user_ids.external, fans)[:200]

    def share_recommended(users):
        lists = text_model.recommend(list(users), k=20)
        return np.mean(["toy-story-twin" in {e.item for e in items} for items in lists])

    fans_share, others_share = share_recommended(fans), share_recommended(others)
    assert fans_share >= 0.4
    assert fans_share >= 2 * others_share
    with pytest.raises(ValueError, match="already has"):
        text_model.add_items(twin)


def test_cold_own_weight_sets_the_share_of_the_items_own_text(text_model):
    new = pd.DataFrame({"movie_title": ["A Quiet Harbour", "Rockets Over Mars"],
                        "release_year": ["1996", "1997"], "class": ["Drama", "Sci-Fi Action"]},
                       index=["harbour", "rockets"])
    saved = dict(text_model.text_params_)
    try:
        text_model.text_params_["cold_own_weight"] = 1.0
        text_model.add_items(new)
    finally:
        text_model.text_params_ = saved
    rows = text_model.item_ids_.to_internal(["harbour", "rockets"])
    text = text_model._encode(text_model._texts(new, np.asarray(new.index), "item"))
    with torch.no_grad():
        own = torch.nn.functional.normalize(text_model.model_.project_items(text), dim=1)
    torch.testing.assert_close(text_model.item_vectors_[torch.from_numpy(rows)], own)


def test_user_from_text_alone(text_model, ml100k):
    text_model.fold_in("kid", text="I love animated movies for children")
    items = [e.item for e in text_model.recommend("kid", k=10)]
    genres = [ml100k.items.loc[i, "class"] for i in items if i in ml100k.items.index]
    assert sum("Animation" in g or "Children" in g for g in genres) >= 7


def test_search_finds_animation(text_model, ml100k):
    results = text_model.search("animated movie for young children", k=10)
    genres = [ml100k.items.loc[r.item, "class"] for r in results]
    assert sum("Animation" in g or "Children" in g for g in genres) >= 7
    personal = text_model.search("animated movie for young children", k=10, user="196")
    seen = set(text_model.item_ids_.to_external(text_model.seen_[
        text_model.user_ids_.to_internal(["196"])[0]].indices))
    assert not seen & {r.item for r in personal}


def test_text_model_round_trip(text_model, tmp_path):
    text_model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    before, after = text_model.recommend("196", k=10), loaded.recommend("196", k=10)
    assert [e.item for e in after] == [e.item for e in before]
    assert [e.score for e in after] == pytest.approx([e.score for e in before], abs=1e-5)
    assert [r.item for r in loaded.search("space adventure", k=5)] == [
        r.item for r in text_model.search("space adventure", k=5)
    ]


def test_models_without_text_refuse_text(lightgcn):
    with pytest.raises(ValueError, match="cannot"):
        lightgcn.search("anything")
    with pytest.raises(ValueError, match="cannot"):
        lightgcn.fold_in("x", text="hello")


def test_fold_in_propagation_scales_by_the_degree_exponents():
    from lgrec.recommend.cold_start import propagate_new_user

    torch.manual_seed(0)
    item_layers, layer0 = torch.randn(2, 3, 4), torch.randn(4)  # layers 0..1 of 3 items
    degree, items = torch.tensor([1.0, 3.0, 8.0]), torch.tensor([0, 2])
    # two items: the user's degree is 2, each item's grows by the new edge
    weights = torch.tensor([2**-0.7 * 2**-0.2, 2**-0.7 * 9**-0.2])[:, None]
    expected = (layer0 + (weights * item_layers[0, items]).sum(0)
                + (weights * item_layers[1, items]).sum(0)) / 3
    got = propagate_new_user(item_layers, degree, items, layer0, 0.7, 0.2)
    torch.testing.assert_close(got, expected)
    symmetric = propagate_new_user(item_layers, degree, items, layer0)
    weights = 1 / torch.sqrt(2 * (degree[items] + 1))[:, None]
    torch.testing.assert_close(symmetric, (layer0 + (weights * item_layers[0, items]).sum(0)
                                           + (weights * item_layers[1, items]).sum(0)) / 3)
