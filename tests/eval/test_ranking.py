"""Full-ranking evaluation on a tiny hand-made case."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec.eval import dot_scorer, evaluate_ranking, top_k

# 2 users, 4 items. Scores decrease with the item index for user 0, increase for user 1.
USERS = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
ITEMS = torch.tensor([[4.0, 1.0], [3.0, 2.0], [2.0, 3.0], [1.0, 4.0]])


def csr(rows, n_users=2, n_items=4):
    r, c = zip(*rows, strict=True) if rows else ((), ())
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_users, n_items))


def test_top_k_masks_seen_items():
    top, scores = top_k(dot_scorer(USERS, ITEMS), np.array([0, 1]), 2, csr([(0, 0), (1, 3)]))
    assert top.tolist() == [[1, 2], [2, 1]]
    assert scores.tolist() == [[3.0, 2.0], [3.0, 2.0]]


def test_evaluate_known_answer():
    truth = csr([(0, 1), (1, 0)])
    exclude = csr([(0, 0)])
    result = evaluate_ranking(dot_scorer(USERS, ITEMS), truth, exclude=exclude, k=[1, 4])
    # User 0 (item 0 masked): ranking 1,2,3 -> hit at rank 1. User 1: ranking 3,2,1,0 -> rank 4.
    assert result.metrics["hit@1"] == pytest.approx(0.5)
    assert result.metrics["recall@4"] == pytest.approx(1.0)
    assert result.metrics["mrr@4"] == pytest.approx((1 + 1 / 4) / 2)
    assert result.metrics["ndcg@4"] == pytest.approx((1 + 1 / np.log2(5)) / 2)
    assert result.n_users == 2


def test_users_without_truth_are_not_averaged():
    truth = csr([(0, 1)])
    result = evaluate_ranking(dot_scorer(USERS, ITEMS), truth, k=[1])
    assert result.n_users == 1
    assert result.metrics["hit@1"] == 0.0  # item 0 ranks first for user 0


def test_batches_give_the_same_answer():
    rng = np.random.default_rng(0)
    users, items = torch.randn(50, 8), torch.randn(30, 8)
    truth = sp.random(50, 30, density=0.1, random_state=1, format="csr")
    exclude = sp.random(50, 30, density=0.1, random_state=2, format="csr")
    one = evaluate_ranking(dot_scorer(users, items), truth, exclude=exclude, batch_size=1000)
    many = evaluate_ranking(dot_scorer(users, items), truth, exclude=exclude, batch_size=7)
    assert one.metrics == pytest.approx(many.metrics)
    assert rng is not None


def test_candidates_restrict_ranking():
    truth = csr([(0, 3), (1, 3)])
    result = evaluate_ranking(dot_scorer(USERS, ITEMS), truth, k=[1], candidates=np.array([2, 3]))
    # Among items 2 and 3: user 0 prefers 2 (miss), user 1 prefers 3 (hit).
    assert result.metrics["hit@1"] == pytest.approx(0.5)
