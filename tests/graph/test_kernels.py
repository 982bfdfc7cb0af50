import numpy as np
import pytest
import scipy.sparse as sp

from lgrec.graph import interaction_matrix
from lgrec.graph.kernels import csr_from_coordinates, sort_by_row, transpose_csr_into


def _transpose(R: sp.csr_matrix, max_blocks: int = 256):
    n_cols = R.shape[1]
    indptr = np.empty(n_cols + 1, np.int64)
    indices, data = np.empty_like(R.indices), np.empty_like(R.data)
    transpose_csr_into(R.indptr, R.indices, R.data, n_cols, indptr, indices, data, max_blocks)
    return indptr, indices, data


def _random_log(seed: int, n_rows: int = 300, n_cols: int = 70, nnz: int = 5000):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, nnz).astype(np.int32)
    cols = rng.integers(0, n_cols, nnz).astype(np.int32)
    rows[rows == 7] = 8  # an empty row and an empty column
    cols[cols == 3] = 4
    values = rng.uniform(0.5, 2.0, nnz).astype(np.float32)
    return rows, cols, values, n_rows, n_cols


@pytest.mark.parametrize("max_blocks", [1, 3, 16, 256])
def test_sort_by_row_is_a_stable_counting_sort(max_blocks):
    rows, cols, values, n_rows, _ = _random_log(0)
    indptr, sorted_cols, sorted_values = sort_by_row(rows, cols, values, n_rows, max_blocks)
    order = np.argsort(rows, kind="stable")
    np.testing.assert_array_equal(indptr, np.r_[0, np.cumsum(np.bincount(rows,
                                                                          minlength=n_rows))])
    np.testing.assert_array_equal(sorted_cols, cols[order])
    np.testing.assert_array_equal(sorted_values, values[order])


@pytest.mark.parametrize("max_blocks", [1, 5, 256])
def test_csr_from_coordinates_is_scipys_canonical_matrix(max_blocks):
    rows, cols, values, n_rows, n_cols = _random_log(1)  # 5000 draws into 300 x 70: duplicates
    indptr, indices, data = csr_from_coordinates(rows, cols, values, n_rows, n_cols,
                                                 max_blocks)
    expected = sp.coo_matrix((values.astype(np.float64), (rows, cols)),
                             shape=(n_rows, n_cols)).tocsr()
    expected.sum_duplicates()
    assert len(indices) == expected.nnz < len(rows)
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_allclose(data, expected.data, rtol=1e-6)


def test_duplicates_are_summed_in_the_order_they_came_in():
    # In float32, 1e8 + 1 is 1e8: the order of the three terms decides the sum.
    rows = np.array([0, 1, 0, 0], dtype=np.int32)
    cols = np.array([2, 0, 2, 2], dtype=np.int32)
    values = np.array([1e8, 5.0, 1.0, -1e8], dtype=np.float32)
    indptr, indices, data = csr_from_coordinates(rows, cols, values, 2, 3)
    np.testing.assert_array_equal(indptr, [0, 1, 2])
    np.testing.assert_array_equal(indices, [2, 0])
    np.testing.assert_array_equal(data, np.array([0.0, 5.0], dtype=np.float32))


@pytest.mark.parametrize("max_blocks", [1, 4, 256])
def test_transpose_csr_is_the_transpose_with_sorted_rows(max_blocks):
    rows, cols, values, n_rows, n_cols = _random_log(2)
    R = interaction_matrix(rows, cols, n_rows, n_cols, weights=values)
    indptr, indices, data = _transpose(R, max_blocks)
    expected = R.T.tocsr()
    expected.sort_indices()
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)
    T = sp.csr_matrix((data, indices, indptr), shape=(n_cols, n_rows))
    assert T.has_canonical_format
    np.testing.assert_array_equal(T.toarray(), R.toarray().T)


def test_empty_log_gives_an_empty_matrix():
    R = interaction_matrix(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3, 2)
    assert R.shape == (3, 2) and R.nnz == 0
    np.testing.assert_array_equal(R.indptr, [0, 0, 0, 0])
    np.testing.assert_array_equal(_transpose(R)[0], [0, 0, 0])


@pytest.mark.parametrize(("users", "items", "message"), [
    ([0, 3], [0, 1], "user indices must lie in 0..2"),
    ([0, -1], [0, 1], "user indices must lie in 0..2"),
    ([0, 1], [0, 2], "item indices must lie in 0..1"),
    ([0, 1], [0], "one length"),
])
def test_indices_out_of_range_are_refused_before_the_compiled_sort(users, items, message):
    with pytest.raises(ValueError, match=message):
        interaction_matrix(np.array(users), np.array(items), 3, 2)


def test_the_compiled_sort_refuses_indices_outside_the_matrix():
    rows = np.array([0, 5], dtype=np.int32)
    with pytest.raises(ValueError, match="outside the matrix"):
        sort_by_row(rows, rows, np.empty(0, np.float32), 3)
    with pytest.raises(ValueError, match="user indices must lie in 0..2"):  # int32: no pre-check
        interaction_matrix(rows, np.array([0, 1], dtype=np.int32), 3, 2)


def test_int64_indices_that_would_wrap_into_range_as_int32_are_refused():
    with pytest.raises(ValueError, match="item indices must lie in 0..1"):
        interaction_matrix(np.array([0, 1]), np.array([0, 2**32 + 1]), 3, 2)


def test_binary_matrix_counts_duplicates_without_carrying_values():
    rows, cols, _, n_rows, n_cols = _random_log(3)
    indptr, indices, data = csr_from_coordinates(rows, cols, np.empty(0, np.float32), n_rows,
                                                 n_cols, 4)
    expected = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, n_cols)).tocsr()
    expected.sum_duplicates()
    assert data.dtype == np.float32 and data.max() > 1
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)


def test_weights_of_another_length_are_refused():
    with pytest.raises(ValueError, match="one entry per interaction"):
        interaction_matrix(np.array([0, 1]), np.array([0, 1]), 3, 2, weights=np.ones(3))
