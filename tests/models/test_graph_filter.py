"""Graph filter (GF-CF and ChebyCF): the closed forms against dense computations, quality on MovieLens-100K,
and the artifact round trip."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec import Recommender
from lgrec.models import create_model
from lgrec.models.graph_filter import GraphFilter
from lgrec.recommend.presets import preset

# 5 users x 6 items; item 5 has no interactions (its column of every filter must stay zero).
TINY = np.array(
    [
        [1, 1, 0, 0, 1, 0],
        [0, 1, 1, 0, 0, 0],
        [1, 0, 1, 1, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [1, 1, 1, 0, 0, 0],
    ],
    dtype=np.float32,
)


def dense_gf_cf(R: np.ndarray, rank: int, alpha: float) -> np.ndarray:
    """The GF-CF formula written out densely in float64 with numpy."""
    du = R.sum(1)
    di = R.sum(0)
    du_inv = np.where(du > 0, du, 1.0) ** -0.5 * (du > 0)
    di_inv = np.where(di > 0, di, 1.0) ** -0.5 * (di > 0)
    R_tilde = du_inv[:, None] * R * di_inv[None, :]
    linear = R @ R_tilde.T @ R_tilde
    _, s, vt = np.linalg.svd(R_tilde)
    assert s[rank - 1] - s[rank] > 1e-3, "the tiny matrix must have a gap at the cut"
    V = vt[:rank].T
    ideal = R @ np.diag(di_inv) @ V @ V.T @ np.diag(np.sqrt(di))
    return linear + alpha * ideal


def model_scores(model: GraphFilter) -> np.ndarray:
    users, items = model()
    return model.score_users(torch.arange(model.n_users), users, items).numpy()


def plateau(eigenvalue: np.ndarray, flatness: float) -> np.ndarray:
    """ChebyCF's target response, written in the eigenvalue λ of P̃ = R̃^T R̃."""
    x = 1 - 2 * eigenvalue
    return 0.5 - 0.5 * np.sign(x) * np.abs(x) ** flatness


def dense_chebyshev(R: np.ndarray, order: int, flatness: float, beta: float) -> np.ndarray:
    """The item-graph term of ChebyCF densely: the degree-``order`` polynomial through the
    plateau's values at the Chebyshev nodes, applied to P̃'s eigenvalues."""
    du, di = R.sum(1), R.sum(0)
    du_inv = np.where(du > 0, du, 1.0) ** -0.5 * (du > 0)
    di_inv = np.where(di > 0, di, 1.0) ** -0.5 * (di > 0)
    R_tilde = du_inv[:, None] * R * di_inv[None, :]
    eigenvalues, vectors = np.linalg.eigh(R_tilde.T @ R_tilde)
    nodes = np.cos(np.pi * (np.arange(order + 1) + 0.5) / (order + 1))
    # numpy's own polynomial fit through the nodes: independent of the model's coefficients.
    polynomial = np.polynomial.Chebyshev.fit(nodes, plateau((1 - nodes) / 2, flatness), order)
    response = vectors @ np.diag(polynomial(1 - 2 * eigenvalues)) @ vectors.T
    scale = np.where(di > 0, di, 1.0) ** beta * (di > 0)
    inverse = np.where(di > 0, di, 1.0) ** -beta * (di > 0)
    return ((R * inverse) @ response) * scale


@pytest.mark.parametrize("order", [2, 5, 8])
@pytest.mark.parametrize("flatness, beta", [(1.5, 0.0), (2.0, 0.4)])
def test_chebyshev_filter_matches_the_dense_polynomial(order, flatness, beta):
    model = GraphFilter(5, 6, rank=2, alpha=0.0, flatness=flatness, order=order,
                        degree_power=beta)
    model.fit_closed_form(sp.csr_matrix(TINY))
    expected = dense_chebyshev(TINY.astype(np.float64), order, flatness, beta)
    np.testing.assert_allclose(model_scores(model), expected, atol=1e-5)
    assert np.all(model_scores(model)[:, 5] == 0)


def test_histories_filtered_a_block_at_a_time_give_the_same_scores(monkeypatch):
    """With the cache budget shrunk so that the 5 histories go through the filter in blocks
    of 2, 2 and 1, the scores are still the dense polynomial's."""
    import lgrec.graph.adjacency as adjacency

    monkeypatch.setattr(adjacency, "MIN_BLOCK_COLUMNS", 1)
    monkeypatch.setattr(adjacency, "CACHE_BLOCK_BYTES", 6 * 4 * 2)
    assert adjacency.column_ranges(torch.zeros(6, 5)) == [(0, 2), (2, 4), (4, 5)]
    model = GraphFilter(5, 6, rank=2, alpha=0.0, flatness=2.0, order=5, degree_power=0.4)
    model.fit_closed_form(sp.csr_matrix(TINY))
    expected = dense_chebyshev(TINY.astype(np.float64), 5, 2.0, 0.4)
    np.testing.assert_allclose(model_scores(model), expected, atol=1e-5)
    np.testing.assert_allclose(model.linear_scores(TINY[[1, 3]]).numpy(), expected[[1, 3]],
                               atol=1e-5)


def test_histories_cut_to_bound_the_users_block_give_the_same_scores(monkeypatch):
    """With R̃ x capped at 2 histories' worth (5 users x 2 x 4 bytes), 5 histories go through
    the filter as blocks of 2, 2 and 1 for memory's sake; same scores."""
    import lgrec.models.graph_filter as graph_filter

    model = GraphFilter(5, 6, rank=2, alpha=0.3, flatness=1.5, order=4, degree_power=0.2)
    model.fit_closed_form(sp.csr_matrix(TINY))
    whole = model_scores(model)
    blocks = []
    original = GraphFilter._filter
    monkeypatch.setattr(graph_filter, "USER_BLOCK_BYTES", 5 * 2 * 4)
    monkeypatch.setattr(GraphFilter, "_filter",
                        lambda self, x: blocks.append(x.shape[1]) or original(self, x))
    np.testing.assert_allclose(model_scores(model), whole, atol=1e-6)
    assert blocks == [2, 2, 1]


def test_flat_plateau_is_the_linear_filter():
    # φ = 1 makes the plateau the line h(λ) = λ: the interpolant is exactly P̃, any order.
    assert np.allclose(plateau(np.linspace(0, 1, 11), 1.0), np.linspace(0, 1, 11))
    model = GraphFilter(5, 6, rank=2, alpha=0.0, flatness=1.0 + 1e-12, order=6)
    model.fit_closed_form(sp.csr_matrix(TINY))
    linear = GraphFilter(5, 6, rank=2, alpha=0.0)
    linear.fit_closed_form(sp.csr_matrix(TINY))
    np.testing.assert_allclose(model_scores(model), model_scores(linear), atol=1e-5)


@pytest.mark.parametrize("svd", ["exact", "randomized"])
@pytest.mark.parametrize("rank", [2, 4])
def test_scores_match_the_dense_formula(svd, rank):
    # rank 2 runs the sparse Lanczos SVD, rank 4 (= the smaller side - 1) the dense fallback;
    # the randomized SVD is exact here because its sketch spans the whole range.
    model = GraphFilter(5, 6, rank=rank, alpha=0.7, svd=svd)
    model.fit_closed_form(sp.csr_matrix(TINY))
    expected = dense_gf_cf(TINY.astype(np.float64), rank, 0.7)
    np.testing.assert_allclose(model_scores(model), expected, atol=1e-5)
    assert np.all(model_scores(model)[:, 5] == 0)


def test_low_pass_vectors_give_the_ideal_term():
    model = GraphFilter(5, 6, rank=2, alpha=1.0)
    model.fit_closed_form(sp.csr_matrix(TINY))
    users, items = model()
    linear_only = dense_gf_cf(TINY.astype(np.float64), 2, 0.0)
    np.testing.assert_allclose((users @ items.T).numpy(), model_scores(model) - linear_only,
                               atol=1e-5)


def test_histories_score_like_fitted_users():
    """A user's row scored from outside the model (fold-in) gets the fitted user's scores."""
    model = GraphFilter(5, 6, rank=2, alpha=0.7)
    model.fit_closed_form(sp.csr_matrix(TINY))
    np.testing.assert_allclose(model.score_histories(TINY[[0, 3]]).numpy(),
                               model_scores(model)[[0, 3]], atol=1e-6)


def test_state_dict_loads_into_a_fresh_model():
    model = GraphFilter(5, 6, rank=2)
    model.fit_closed_form(sp.csr_matrix(TINY))
    fresh = create_model("graph-filter", 5, 6, **model.params())
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(model_scores(fresh), model_scores(model))


@pytest.fixture(scope="module")
def fitted(ml100k_split):
    train, valid, _ = ml100k_split
    return Recommender("graph-filter", **preset("graph-filter")).fit(train, valid=valid)


def test_reaches_the_floor_on_movielens(fitted, ml100k_split, popularity_ndcg):
    result = fitted.evaluate(ml100k_split[2], k=[10, 20])
    assert result["ndcg@10"] >= 0.30
    assert result["ndcg@10"] > 1.5 * popularity_ndcg


def test_save_load_round_trip(fitted, check_round_trip):
    loaded = check_round_trip(fitted)
    assert len(loaded.similar_items("1", k=5)) == 5
