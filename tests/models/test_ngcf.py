"""NGCF: one layer against a dense computation, the final vectors' layout, quality over
popularity on MovieLens-100K after a few epochs, and the artifact round trip."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec.graph import Graph
from lgrec.models.ngcf import NGCF, ngcf_layer

R = sp.csr_matrix(
    np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1]], dtype=np.float32)
)


def dense_adjacency(matrix: sp.csr_matrix) -> np.ndarray:
    """``D^-1/2 A D^-1/2`` of the bipartite graph, built densely with numpy."""
    dense = matrix.toarray().astype(np.float64)
    n_users, n_items = dense.shape
    A = np.zeros((n_users + n_items, n_users + n_items))
    A[:n_users, n_users:] = dense
    A[n_users:, :n_users] = dense.T
    d = A.sum(1) ** -0.5
    return d[:, None] * A * d[None, :]


def dense_layer(A: np.ndarray, x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    pre = (A + np.eye(len(A))) @ x @ w1 + ((A @ x) * x) @ w2
    return np.where(pre > 0, pre, 0.2 * pre)


def test_one_layer_matches_the_dense_formula():
    graph = Graph.from_csr(R)
    rng = np.random.default_rng(0)
    x, w1, w2 = rng.normal(size=(7, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    out = ngcf_layer(graph.adjacency, *(torch.tensor(a, dtype=torch.float32) for a in (x, w1, w2)))
    np.testing.assert_allclose(out.numpy(), dense_layer(dense_adjacency(R), x, w1, w2), atol=1e-5)


def test_final_vectors_concatenate_normalised_layers():
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    model = NGCF(3, 4, dim=3, layers=2, dropout=0.5).eval()  # eval: no message dropout
    users, items = model(graph)
    assert users.shape == (3, 9) and items.shape == (4, 9)
    A = dense_adjacency(R)
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().numpy()
    expected = [x]
    for w1, w2 in zip(model.w1, model.w2, strict=True):
        x = dense_layer(A, x, w1.detach().numpy(), w2.detach().numpy())
        expected.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    np.testing.assert_allclose(
        torch.cat([users, items]).detach().numpy(), np.concatenate(expected, axis=1), atol=1e-5
    )


def test_message_dropout_only_in_training():
    graph = Graph.from_csr(R)
    model = NGCF(3, 4, dim=8, layers=1, dropout=0.5)
    model.train()
    first, second = model(graph)[0], model(graph)[0]
    assert not torch.equal(first, second)
    model.eval()
    assert torch.equal(model(graph)[0], model(graph)[0])


def test_gradients_reach_every_weight():
    graph = Graph.from_csr(R)
    model = NGCF(3, 4, dim=4, layers=2)
    users, items = model(graph)
    (users @ items.T).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.fixture(scope="module")
def fitted(fit_briefly):
    return fit_briefly("ngcf")


@pytest.mark.slow
def test_beats_popularity_on_movielens(fitted, ml100k_split, popularity_ndcg):
    assert fitted.evaluate(ml100k_split[2], k=[10])["ndcg@10"] > 1.5 * popularity_ndcg


@pytest.mark.slow
def test_save_load_round_trip(fitted, check_round_trip):
    check_round_trip(fitted)
