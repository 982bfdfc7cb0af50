"""Known-answer tests for every metric on hand-computed cases."""

import math

import numpy as np
import pytest

from lgrec.eval import metrics as M

# Two users, top-5 lists. User 0: hits at ranks 1 and 3 (0-based 0, 2), 4 relevant items.
# User 1: one hit at rank 4 (0-based 3), 1 relevant item.
HITS = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=bool)
N_REL = np.array([4, 1])


def test_recall():
    assert M.recall(HITS, N_REL, 5).tolist() == [2 / 4, 1.0]
    assert M.recall(HITS, N_REL, 1).tolist() == [1 / 4, 0.0]


def test_precision():
    assert M.precision(HITS, N_REL, 5).tolist() == [2 / 5, 1 / 5]
    assert M.precision(HITS, N_REL, 3).tolist() == [2 / 3, 0.0]


def test_hit():
    assert M.hit(HITS, N_REL, 3).tolist() == [1.0, 0.0]
    assert M.hit(HITS, N_REL, 4).tolist() == [1.0, 1.0]


def test_ndcg():
    dcg0 = 1 / math.log2(2) + 1 / math.log2(4)
    idcg0 = sum(1 / math.log2(i + 2) for i in range(4))
    dcg1 = 1 / math.log2(5)
    got = M.ndcg(HITS, N_REL, 5)
    assert got[0] == pytest.approx(dcg0 / idcg0)
    assert got[1] == pytest.approx(dcg1 / 1.0)
    # With k smaller than n_relevant the ideal list is k hits long.
    assert M.ndcg(HITS, N_REL, 2)[0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_mrr():
    assert M.mrr(HITS, N_REL, 5).tolist() == [1.0, 0.25]
    assert M.mrr(HITS, N_REL, 3).tolist() == [1.0, 0.0]


def test_map():
    # User 0: precision at hit ranks: 1/1, 2/3 -> (1 + 2/3) / min(4, 5)
    # User 1: precision at rank 4 is 1/4 -> (1/4) / min(1, 5)
    got = M.average_precision(HITS, N_REL, 5)
    assert got[0] == pytest.approx((1 + 2 / 3) / 4)
    assert got[1] == pytest.approx(0.25)
    assert M.average_precision(HITS, N_REL, 2)[0] == pytest.approx(1 / 2)


def test_perfect_ranking_scores_one():
    hits = np.ones((1, 3), dtype=bool)
    for name, fn in M.METRIC_FUNCTIONS.items():
        if name == "precision":
            continue
        assert fn(hits, np.array([3]), 3)[0] == pytest.approx(1.0), name


def test_parse_metric():
    assert M.parse_metric("NDCG@10") == ("ndcg", 10)
    with pytest.raises(ValueError):
        M.parse_metric("auc")
    with pytest.raises(ValueError):
        M.parse_metric("ndcg@x")
