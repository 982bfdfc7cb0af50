import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec.graph.spectral import spectral_embeddings, top_right_singular_vectors


def _with_spectrum(m: int, n: int, singular: np.ndarray, seed: int) -> sp.csr_matrix:
    """A sparse-stored m x n matrix with the given leading singular values (and small noise)."""
    rng = np.random.default_rng(seed)
    left, _ = np.linalg.qr(rng.standard_normal((m, len(singular))))
    right, _ = np.linalg.qr(rng.standard_normal((n, len(singular))))
    dense = (left * singular) @ right.T + 1e-3 * rng.standard_normal((m, n))
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_randomized_matches_the_exact_subspace_on_both_sides(shape):
    """More users than items and the reverse: the randomized vectors are orthonormal and span
    the exact top-k subspace."""
    singular = np.geomspace(10.0, 1.0, 12)
    matrix = _with_spectrum(*shape, singular, seed=3)
    exact = top_right_singular_vectors(matrix, 8, method="exact")
    approx = top_right_singular_vectors(matrix, 8, method="randomized", oversample=8)
    assert approx.shape == (shape[1], 8) and approx.dtype == np.float32
    np.testing.assert_allclose(approx.T @ approx, np.eye(8), atol=1e-5)
    np.testing.assert_allclose(approx @ approx.T, exact @ exact.T, atol=1e-4)


def test_randomized_products_a_column_block_at_a_time(monkeypatch):
    """The sparse products in cache-sized column blocks (the budget shrunk so that the
    20-column blocks split) give the same subspace."""
    import lgrec.graph.adjacency as adjacency

    matrix = _with_spectrum(300, 200, np.geomspace(10.0, 1.0, 12), seed=3)
    whole = top_right_singular_vectors(matrix, 8, method="randomized", oversample=12)
    monkeypatch.setattr(adjacency, "MIN_BLOCK_COLUMNS", 4)
    monkeypatch.setattr(adjacency, "CACHE_BLOCK_BYTES", 300 * 4 * 5)
    assert len(adjacency.column_ranges(torch.zeros(300, 20))) == 4
    blocked = top_right_singular_vectors(matrix, 8, method="randomized", oversample=12)
    np.testing.assert_allclose(blocked @ blocked.T, whole @ whole.T, atol=1e-5)


def test_randomized_vectors_come_in_order_of_singular_value():
    singular = np.array([9.0, 7.0, 5.0, 3.0, 1.0])
    matrix = _with_spectrum(120, 80, singular, seed=4)
    vectors = top_right_singular_vectors(matrix, 5, method="randomized", oversample=10)
    np.testing.assert_allclose(np.linalg.norm(matrix @ vectors, axis=0), singular, rtol=1e-3)


def test_randomized_is_reproducible_under_a_seed():
    rng = np.random.default_rng(0)
    matrix = sp.random(400, 150, density=0.05, random_state=rng, format="csr")
    first = top_right_singular_vectors(matrix, 10, method="randomized", seed=5)
    again = top_right_singular_vectors(matrix, 10, method="randomized", seed=5)
    np.testing.assert_array_equal(first, again)


def test_rank_past_the_matrix_rank_returns_orthonormal_columns():
    """A rank-2 matrix asked for 4 vectors: the first two span its row space, the rest are
    orthonormal directions in its null space (no division by a zero singular value)."""
    matrix = sp.csr_matrix(np.outer([1.0, 2, 0, 1, 3, 1], [1.0, 0, 2, 1, 0])
                           + np.outer([0.0, 1, 1, 0, 2, 0], [0.0, 1, 0, 1, 1]))
    vectors = top_right_singular_vectors(matrix, 4, method="randomized", oversample=1)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(4), atol=1e-5)
    exact = top_right_singular_vectors(matrix, 2, method="exact")
    np.testing.assert_allclose(vectors[:, :2] @ vectors[:, :2].T, exact @ exact.T, atol=1e-5)


def test_spectral_embeddings_give_the_best_low_rank_approximation():
    singular = np.array([6.0, 4.0, 2.0])
    matrix = _with_spectrum(50, 40, singular, seed=6)
    users, items = spectral_embeddings(matrix, 3)
    u, s, vt = np.linalg.svd(matrix.toarray())
    np.testing.assert_allclose(users @ items.T, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-4)
