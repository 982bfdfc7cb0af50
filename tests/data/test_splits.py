"""Splits: shares, determinism, time order, and files other tools can read."""

from __future__ import annotations

import numpy as np
import pytest

from lgrec.data import DataError, Dataset, load_split, save_split


def keys(ds: Dataset) -> set[tuple[int, int]]:
    return set(zip(ds.users_array.tolist(), ds.items_array.tolist(), strict=True))


def test_random_split_is_per_user_and_deterministic(ml100k):
    train, valid, test = ml100k.split("random", valid=0.1, test=0.1, seed=7)
    again = ml100k.split("random", valid=0.1, test=0.1, seed=7)
    other = ml100k.split("random", valid=0.1, test=0.1, seed=8)
    assert [keys(p) for p in (train, valid, test)] == [keys(p) for p in again]
    assert keys(test) != keys(other[2])
    assert len(train) + len(valid) + len(test) == len(ml100k)
    assert not keys(train) & keys(test) and not keys(valid) & keys(test)
    # Every user keeps most of their interactions in train, about 10% in test.
    per_user = np.bincount(test.users_array, minlength=ml100k.n_users) / np.bincount(
        ml100k.users_array, minlength=ml100k.n_users
    )
    assert 0.07 < per_user.mean() < 0.13
    assert set(train.users_array) == set(range(ml100k.n_users))


def test_ratio_rounding_like_recbole():
    import pandas as pd

    # A user with 5 interactions: floor(0.5) = 0 each, rounded up to 1 each while train > 1.
    frame = pd.DataFrame({"user": ["u"] * 5, "item": list("abcde")})
    train, valid, test = Dataset.from_frame(frame).split("random", seed=0)
    assert (len(train), len(valid), len(test)) == (3, 1, 1)


def test_temporal_split_puts_latest_in_test(ml100k):
    train, valid, test = ml100k.split("temporal", seed=0)
    times = {}
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        frame = part.interactions
        times[name] = frame.groupby("user")["timestamp"].agg(["min", "max"])
    common = times["train"].index.intersection(times["test"].index)
    assert (times["train"].loc[common, "max"] <= times["test"].loc[common, "min"]).all()


def test_global_temporal_split_has_one_cut(ml100k):
    train, valid, test = ml100k.split("global-temporal", valid=0.1, test=0.1)
    assert len(test) == 10000 and len(valid) == 10000
    assert train.interactions["timestamp"].max() <= valid.interactions["timestamp"].min()
    assert valid.interactions["timestamp"].max() <= test.interactions["timestamp"].min()


def test_leave_one_out(ml100k):
    train, valid, test = ml100k.split("loo", seed=0)
    assert len(test) == ml100k.n_users and len(valid) == ml100k.n_users
    assert np.bincount(test.users_array).max() == 1


def test_temporal_needs_timestamps():
    import pandas as pd

    ds = Dataset.from_frame(pd.DataFrame({"user": ["a"], "item": ["b"]}))
    with pytest.raises(DataError, match="needs timestamps"):
        ds.split("temporal")


def test_saved_split_reloads_identically(ml100k, tmp_path):
    parts = dict(zip(("train", "valid", "test"), ml100k.split("random", seed=3), strict=True))
    save_split(tmp_path, parts)
    loaded = load_split(tmp_path)
    for name, part in parts.items():
        original = set(map(tuple, part.to_frame()[["user", "item"]].to_numpy()))
        reread = set(map(tuple, loaded[name].to_frame()[["user", "item"]].to_numpy()))
        assert original == reread
    assert loaded["train"].user_ids is loaded["test"].user_ids


@pytest.mark.parametrize(("method", "column"), [("cold-item", "item"), ("cold-user", "user")])
def test_cold_splits_hold_out_whole_entities(ml100k, method, column):
    train, valid, test = ml100k.split(method, valid=0.1, test=0.2, seed=4)
    seen = set(train.interactions[column])
    assert not seen & set(test.interactions[column])
    assert not seen & set(valid.interactions[column])
    held = test.interactions[column].nunique()
    total = ml100k.interactions[column].nunique()
    assert held == int(total * 0.2)
    assert len(train) + len(valid) + len(test) == len(ml100k)
