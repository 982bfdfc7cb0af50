"""The normalised bipartite adjacency, checked entry by entry on a small graph."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec.graph import (
    Graph,
    adjacency_spmm,
    interaction_matrix,
    normalize_bipartite,
    sparse_product,
    to_torch_sparse,
)

USERS = np.array([0, 0, 1, 2])
ITEMS = np.array([0, 1, 1, 2])


def test_symmetric_normalisation_known_answer():
    graph = Graph.from_interactions(USERS, ITEMS, 3, 4)
    dense = graph.adjacency.to_dense().numpy()
    assert dense.shape == (7, 7)
    # user 0 has degree 2, item 0 degree 1, item 1 degree 2.
    assert dense[0, 3] == pytest.approx(1 / np.sqrt(2 * 1))
    assert dense[0, 4] == pytest.approx(1 / np.sqrt(2 * 2))
    assert np.allclose(dense, dense.T)
    # Item 3 has no interactions: an isolated node, zero row.
    assert not dense[6].any()
    assert graph.n_edges == 4


def test_duplicates_are_summed_and_left_normalisation():
    R = interaction_matrix(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, 2)
    assert R[0, 1] == 2
    left = normalize_bipartite(R, "left")
    assert left.sum(axis=1).A1.tolist() == [1.0, 1.0]


def test_adjacency_spmm_gradient_matches_dense():
    graph = Graph.from_interactions(USERS, ITEMS, 3, 4)
    x = torch.randn(7, 5, requires_grad=True)
    (adjacency_spmm(graph.adjacency, x) ** 2).sum().backward()
    dense = graph.adjacency.to_dense()
    y = x.detach().clone().requires_grad_(True)
    ((dense @ y) ** 2).sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-6)


def test_memory_is_linear_in_edges():
    rng = np.random.default_rng(0)
    n_users, n_items, n_edges = 50_000, 20_000, 200_000
    graph = Graph.from_interactions(
        rng.integers(0, n_users, n_edges), rng.integers(0, n_items, n_edges), n_users, n_items
    )
    adjacency = graph.adjacency
    stored = sum(t.numel() * t.element_size() for t in
                 (adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()))
    # Two directed entries per edge plus the row pointer: far below users x items.
    assert stored < 2 * n_edges * 16 + (n_users + n_items + 1) * 8


def test_bipartite_layout_equals_the_block_matrix():
    import scipy.sparse as sp

    from lgrec.graph import bipartite_adjacency

    rng = np.random.default_rng(1)
    R = interaction_matrix(rng.integers(0, 40, 300), rng.integers(0, 25, 300), 40, 25)
    R_hat = normalize_bipartite(R, "sym")
    expected = sp.bmat([[None, R_hat], [R_hat.T, None]]).toarray()
    adjacency = bipartite_adjacency(R_hat)
    np.testing.assert_array_equal(adjacency.toarray(), expected)
    graph = Graph.from_csr(R)  # laid out straight into torch, int32 indices where they fit
    assert graph.adjacency.col_indices().dtype == torch.int32
    assert graph.adjacency.crow_indices().dtype == torch.int32
    wide = torch.sparse_csr_tensor(graph.adjacency.crow_indices().long(),
                                   graph.adjacency.col_indices().long(), graph.adjacency.values(),
                                   size=graph.adjacency.shape, check_invariants=True)
    x = torch.randn(65, 8)
    assert torch.equal(adjacency_spmm(graph.adjacency, x), sparse_product(wide, x))
    torch.testing.assert_close(adjacency_spmm(graph.adjacency, x), torch.sparse.mm(wide, x))
    assert graph.to("cpu").adjacency is graph.adjacency
    np.testing.assert_array_equal(graph.adjacency.to_dense().numpy(), expected.astype(np.float32))


def test_map_column_blocks_maps_cache_sized_contiguous_blocks_of_a_large_table(monkeypatch):
    import lgrec.graph.adjacency as adjacency

    def blocks_seen(x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        seen: list[torch.Tensor] = []

        def record(block: torch.Tensor) -> torch.Tensor:
            seen.append(block)
            return block * 2

        return seen, adjacency.map_column_blocks(record, x)

    monkeypatch.setattr(adjacency, "CACHE_BLOCK_BYTES", 1000 * 4 * 50)
    x = torch.arange(1000 * 256, dtype=torch.float32).reshape(1000, 256)
    blocks, mapped = blocks_seen(x)
    assert [b.shape[1] for b in blocks] == [64] * 4  # 6 blocks of 50 would be < 64 wide
    assert all(b.is_contiguous() for b in blocks)
    assert torch.equal(torch.cat(blocks, dim=1), x)
    assert torch.equal(mapped, x * 2)
    small, _ = blocks_seen(x[:10])
    assert len(small) == 1 and small[0].data_ptr() == x.data_ptr()  # small already: x itself
    assert len(blocks_seen(x[:, :64])[0]) == 1  # too narrow to cut
    too_tall = torch.zeros(5000, 256)  # 64-column blocks of 1.28 MB, over 6 times the budget
    assert len(blocks_seen(too_tall)[0]) == 1
    # Given ranges, and a map whose output has other rows than its input (a product).
    ranges = [(0, 3), (3, 100), (100, 256)]
    assert torch.equal(adjacency.map_column_blocks(lambda b: b[:7] + 1, x, ranges), x[:7] + 1)
    uneven = torch.zeros(1000, 259)  # 4 blocks, the first 3 one column wider
    assert adjacency.column_ranges(uneven) == [(0, 65), (65, 130), (130, 195), (195, 259)]
    assert adjacency.column_ranges(x) == [(0, 64), (64, 128), (128, 192), (192, 256)]
    assert adjacency.column_ranges(too_tall) == [(0, 256)]


def _random_graph(n_users: int = 300, n_items: int = 120, n: int = 4000) -> Graph:
    rng = np.random.default_rng(3)
    return Graph.from_interactions(rng.integers(0, n_users, n), rng.integers(0, n_items, n),
                                   n_users, n_items)


def test_tiled_product_equals_the_sparse_product_whatever_the_bands_and_threads():
    from lgrec.graph.adjacency import TiledMatrix

    graph = _random_graph()
    x = torch.randn(graph.n_nodes, 8)
    tiled = TiledMatrix(graph.adjacency, 50)
    torch.testing.assert_close(tiled.matmul(x), torch.sparse.mm(graph.adjacency, x))
    assert tiled.nnz == graph.adjacency._nnz()
    # The column cuts alone fix each row's sum (its partial sums added in column order): any
    # banding of the rows and any number of threads give the same bits.
    for budget in (1, 7, 100, 10**9):
        for threads in (1, 2, 3):
            banded = TiledMatrix(graph.adjacency, 50, budget, threads)
            assert torch.equal(banded.matmul(x), tiled.matmul(x)), (budget, threads)
    assert TiledMatrix(graph.adjacency, 50, 7).n_bands > 1
    # The same sums as the plain product of each row's entries within each tile, in order.
    dense = graph.adjacency.to_dense().double()
    by_tile = [dense[:, a:b] @ x.double()[a:b]
               for a, b in zip(tiled.edges[:-1], tiled.edges[1:], strict=True)]
    torch.testing.assert_close(tiled.matmul(x).double(), sum(by_tile), rtol=0, atol=1e-5)


def test_tiles_cut_users_and_items_apart_and_keep_one_partial_sum_per_row_and_tile():
    from lgrec.graph.adjacency import TiledMatrix

    graph = _random_graph()  # 300 users, then 120 items
    tiled = TiledMatrix(graph.adjacency, 50)
    # Users in 6 slices of 50, items in 3 slices of 40: no slice holds both.
    assert tiled.edges.tolist() == [0, 50, 100, 150, 200, 250, 300, 340, 380, 420]
    dense = graph.adjacency.to_dense().numpy()
    rows, cols = np.nonzero(dense)
    tile = np.searchsorted(tiled.edges, cols, side="right") - 1
    assert tiled.n_partial_sums == len(set(zip(rows.tolist(), tile.tolist(), strict=True)))
    # A user row only reaches the 3 item tiles and an item row the 6 user tiles.
    assert (tile[rows < 300] >= 6).all() and (tile[rows >= 300] < 6).all()
    # A matrix that is not bipartite is cut in equal slices of all its columns.
    rng = np.random.default_rng(1)
    general = to_torch_sparse(sp.random(90, 90, density=0.1, random_state=rng, format="csr"))
    assert TiledMatrix(general, 40).edges.tolist() == [0, 30, 60, 90]


def test_tiled_product_of_unsorted_and_rectangular_matrices_leaves_the_matrix_alone():
    from lgrec.graph.adjacency import TiledMatrix

    rng = np.random.default_rng(4)
    matrix = sp.random(70, 130, density=0.08, random_state=rng, format="csr", dtype=np.float32)
    # The same matrix with each row's columns reversed: a valid CSR with unsorted indices.
    indices, data = matrix.indices.copy(), matrix.data.copy()
    for r in range(70):
        a, b = matrix.indptr[r], matrix.indptr[r + 1]
        indices[a:b], data[a:b] = indices[a:b][::-1].copy(), data[a:b][::-1].copy()
    unsorted = torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr), torch.from_numpy(indices),
                                       torch.from_numpy(data), size=(70, 130),
                                       check_invariants=False)
    x = torch.randn(130, 5)
    product = TiledMatrix(unsorted, 20, 30).matmul(x)
    torch.testing.assert_close(product, torch.from_numpy(matrix.toarray()) @ x)
    assert torch.equal(unsorted.col_indices(), torch.from_numpy(indices))  # not sorted in place
    assert torch.equal(unsorted.values(), torch.from_numpy(data))


def test_tiled_product_gives_zero_rows_where_a_band_has_no_entries():
    from lgrec.graph.adjacency import TiledMatrix

    rng = np.random.default_rng(5)
    # Users 0..139 have no interactions, nor do items 100..119 (the last rows).
    graph = Graph.from_interactions(rng.integers(140, 300, 2000), rng.integers(0, 100, 2000),
                                    300, 120)
    tiled = TiledMatrix(graph.adjacency, 50, 40)
    assert tiled.n_bands > 1
    x = torch.randn(graph.n_nodes, 8)
    for _ in range(3):  # freed NaN tables first, so that fresh memory may hold garbage
        torch.full((graph.n_nodes, 8), float("nan"))
        product = tiled.matmul(x)
        torch.testing.assert_close(product, graph.adjacency.to_dense() @ x)
        assert not product[:140].any() and not product[400:].any()
    nothing = TiledMatrix(to_torch_sparse(sp.csr_matrix((5, 5), dtype=np.float32)), 2)
    assert nothing.n_partial_sums == 0 and not nothing.matmul(torch.ones(5, 3)).any()


def test_adjacency_spmm_tiles_a_table_past_the_cache_same_values_and_gradient(monkeypatch):
    import lgrec.graph.adjacency as adjacency

    graph = _random_graph()
    x = torch.randn(graph.n_nodes, 8)
    monkeypatch.setattr(adjacency, "TILE_BYTES", graph.n_nodes * 8 * 4 // 5)
    tiled = adjacency.tiles_for(graph.adjacency, x)
    assert tiled is not None and tiled.n_tiles > 1
    assert adjacency.tiles_for(graph.adjacency, x) is tiled  # cut once, then kept
    assert adjacency.tiles_for(graph.adjacency, x[:, :1]) is None  # within the cache

    through_tiles = x.clone().requires_grad_()
    plain = x.clone().requires_grad_()
    weights = torch.randn(graph.n_nodes, 8)
    (adjacency_spmm(graph.adjacency, through_tiles) * weights).sum().backward()
    (torch.sparse.mm(graph.adjacency, plain) * weights).sum().backward()
    torch.testing.assert_close(adjacency_spmm(graph.adjacency, x),
                               torch.sparse.mm(graph.adjacency, x))
    torch.testing.assert_close(through_tiles.grad, plain.grad)


def test_weighted_adjacency_is_scaled_to_the_dense_known_answer():
    rng = np.random.default_rng(2)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 20, 200)
    users[users == 29] = 28  # user 29 and item 19 isolated
    items[items == 19] = 18
    R = interaction_matrix(users, items, 30, 20, weights=rng.uniform(0.5, 3.0, 200))
    dense = R.toarray().astype(np.float64)
    du, di = dense.sum(axis=1), dense.sum(axis=0)
    with np.errstate(divide="ignore"):
        expected = (dense * np.where(du > 0, du**-0.5, 0)[:, None]
                    * np.where(di > 0, di**-0.5, 0)[None, :]).astype(np.float32)
    np.testing.assert_allclose(normalize_bipartite(R, "sym").toarray(), expected, rtol=1e-6)
    full = Graph.from_csr(R).adjacency.to_dense().numpy()
    np.testing.assert_allclose(full[:30, 30:], expected, rtol=1e-6)
    np.testing.assert_array_equal(full, full.T)  # both halves hold bitwise the same values
    np.testing.assert_array_equal(full[:30, 30:], normalize_bipartite(R, "sym").toarray())
    assert not full[29].any() and not full[30 + 19].any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cpu_product_is_the_dense_product_for_every_width_and_dtype(dtype):
    """The CPU product (embedding-bag sums) against the dense matrix: empty rows, a matrix
    without entries, a zero-width and a non-contiguous table."""
    graph = _random_graph(n=500)
    dense = graph.adjacency.to_dense().to(torch.float64)
    empty = Graph.from_interactions(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                                    5, 3).adjacency
    tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-5
    for width in (0, 1, 7, 64):
        x = torch.randn(width, graph.n_nodes, dtype=torch.float64).to(dtype).t()  # strided
        product = sparse_product(graph.adjacency, x)
        assert product.dtype == dtype and product.shape == (graph.n_nodes, width)
        torch.testing.assert_close(product.to(torch.float64), dense @ x.to(torch.float64),
                                   rtol=tolerance, atol=tolerance)
        assert not sparse_product(empty, torch.ones(8, width, dtype=dtype)).any()
