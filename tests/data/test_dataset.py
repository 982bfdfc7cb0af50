"""Dataset construction: id maps both ways, implicit feedback options, k-core, side tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lgrec.data import ColumnMap, DataError, Dataset, IdMap, load_dataset

FRAME = pd.DataFrame(
    {
        "uid": ["a", "a", "b", "b", "c", "a"],
        "iid": ["x", "y", "x", "z", "x", "x"],
        "stars": [5, 2, 4, 5, 1, 3],
        "t": [1, 2, 3, 4, 5, 6],
    }
)
COLUMNS = ColumnMap("uid", "iid", rating="stars", timestamp="t")


def test_id_maps_round_trip():
    ds = Dataset.from_frame(FRAME, COLUMNS, dedup=None)
    assert ds.n_users == 3 and ds.n_items == 3 and ds.n_interactions == 6
    internal = ds.user_ids.to_internal(["c", "a"])
    assert ds.user_ids.to_external(internal).tolist() == ["c", "a"]
    frame = ds.to_frame()
    assert frame["user"].tolist() == FRAME["uid"].tolist()
    assert frame["item"].tolist() == FRAME["iid"].tolist()
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        ds.user_ids.to_internal(["nobody"], kind="user")


def test_dedup_keeps_latest_and_threshold_filters():
    ds = Dataset.from_frame(FRAME, COLUMNS, dedup="last")
    frame = ds.to_frame()
    assert len(frame) == 5
    assert frame[(frame.user == "a") & (frame.item == "x")]["rating"].item() == 3
    implicit = Dataset.from_frame(FRAME, COLUMNS, rating_threshold=4, dedup=None)
    assert sorted(map(tuple, implicit.to_frame()[["user", "item"]].to_numpy())) == [
        ("a", "x"), ("b", "x"), ("b", "z")
    ]


def test_k_core_is_iterative():
    # Users: a(x, y), b(x, z), c(x). Items: x(3), y(1), z(1).
    users_only = Dataset.from_frame(FRAME, COLUMNS, dedup="first", min_user_interactions=2)
    assert sorted(set(users_only.to_frame()["user"])) == ["a", "b"]
    items_only = Dataset.from_frame(FRAME, COLUMNS, dedup="first", min_item_interactions=2)
    assert set(items_only.to_frame()["item"]) == {"x"}
    # Both: dropping c, y and z leaves a and b with one item each, so they go too.
    with pytest.raises(DataError, match="left no interactions"):
        Dataset.from_frame(FRAME, COLUMNS, dedup="first", min_user_interactions=2,
                           min_item_interactions=2)


def test_csr_matches_interactions():
    ds = Dataset.from_frame(FRAME, COLUMNS)
    R = ds.csr()
    assert R.shape == (3, 3) and R.nnz == ds.n_interactions
    assert np.all(R.data == 1)


def test_idmap_extended_and_equality():
    ids = IdMap(["a", "b"])
    more = ids.extended(["b", "c"])
    assert more.external.tolist() == ["a", "b", "c"]
    assert IdMap(["a", "b"]) == ids and more != ids
    assert more.lookup(["c", "zz"]).tolist() == [2, -1]


def test_bundled_movielens(ml100k):
    assert (ml100k.n_users, ml100k.n_items, ml100k.n_interactions) == (943, 1682, 100000)
    assert ml100k.items.loc["1", "movie_title"] == "Toy Story"
    assert ml100k.users.loc["1", "occupation"] == "technician"
    assert ml100k.item_titles()["50"] == "Star Wars"


def test_load_dataset_dispatch(tmp_path):
    csv = tmp_path / "r.csv"
    FRAME.to_csv(csv, index=False)
    ds = load_dataset(csv, columns=COLUMNS)
    assert ds.n_interactions == 5  # one duplicate (a, x) removed by default
    txt = tmp_path / "train.txt"
    txt.write_text("0 1 2\n1 2\n")
    assert load_dataset(txt).n_interactions == 3
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
