"""The user-item graph, built straight as sparse COO/CSR.

Nodes are users ``0..n_users-1`` followed by items ``n_users..n_users+n_items-1``. Memory is a
few arrays of length ``2 * n_edges``; no dense or ``dok`` matrix is ever built.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from lgrec.graph.kernels import csr_from_coordinates, scale_entries, transpose_csr_into


def _index_dtype(n: int) -> type:
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def interaction_matrix(
    users: np.ndarray,
    items: np.ndarray,
    n_users: int,
    n_items: int,
    weights: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The ``n_users x n_items`` matrix R (binary unless weights are given), duplicates summed
    in the order they come in, each row's items sorted.

    Built by :func:`~lgrec.graph.kernels.csr_from_coordinates`, whose passes scatter only
    within cache-sized blocks of rows (see that module).
    """
    users, items = np.asarray(users), np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"users and items must be 1-D and of one length, got shapes "
                         f"{users.shape} and {items.shape}")
    # Without weights no values travel through the sorts: the kernel counts duplicates.
    data = np.empty(0, dtype=np.float32) if weights is None else np.asarray(
        weights, dtype=np.float32)
    if weights is not None and data.shape != users.shape:
        raise ValueError(f"weights must have one entry per interaction, got shape {data.shape}")
    dtype = _index_dtype(max(n_users, n_items, len(users)))
    sides = (("user", users, n_users), ("item", items, n_items))
    for side in sides:
        if not np.can_cast(side[1].dtype, dtype):  # a narrowing cast could wrap into range
            _check_range(*side)
    try:
        # The kernel checks every index before it writes anything.
        indptr, indices, values = csr_from_coordinates(
            users.astype(dtype, copy=False), items.astype(dtype, copy=False), data, n_users,
            n_items)
    except ValueError:
        for side in sides:
            _check_range(*side)
        raise
    return _canonical_csr(indptr, indices, values, (n_users, n_items), dtype)


def _check_range(name: str, ids: np.ndarray, count: int) -> None:
    if len(ids) and (ids.min() < 0 or ids.max() >= count):
        raise ValueError(f"{name} indices must lie in 0..{count - 1}, got "
                         f"{ids.min()}..{ids.max()}")


def _canonical_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
                   shape: tuple[int, int], dtype: type) -> sp.csr_matrix:
    """A scipy CSR matrix over arrays whose rows are sorted and free of duplicates."""
    matrix = sp.csr_matrix((values, indices.astype(dtype, copy=False),
                            indptr.astype(dtype, copy=False)), shape=shape)
    matrix.has_canonical_format = True  # which also marks the indices sorted
    return matrix


def _canonical(R: sp.spmatrix) -> sp.csr_matrix:
    """R as CSR with sorted rows free of duplicates (R itself when it already is)."""
    R = R.tocsr()
    if not R.has_canonical_format:
        R = R.copy()
        R.sum_duplicates()
    return R


def normalize_bipartite(R: sp.csr_matrix, kind: str = "sym") -> sp.csr_matrix:
    """Normalise R by node degrees: ``sym`` gives ``D_u^-1/2 R D_i^-1/2``, ``left`` ``D_u^-1 R``.

    Isolated nodes (degree 0) get a zero row or column instead of a division by zero.
    """
    R = R.tocsr()
    user_factor, item_factor = _degree_factors(R, kind)
    data = np.empty(R.nnz, dtype=np.float32)
    _scale_entries(R, user_factor, item_factor, out=data)
    return sp.csr_matrix((data, R.indices.copy(), R.indptr.copy()), shape=R.shape)


def _degrees(R: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-user and per-item sums of R's entries."""
    return np.asarray(R.sum(axis=1)).ravel(), np.asarray(R.sum(axis=0)).ravel()


def _degree_powers(degree: np.ndarray, exponent: float) -> np.ndarray:
    """``degree ** -exponent`` (float64), zero for isolated nodes."""
    with np.errstate(divide="ignore"):
        return np.where(degree > 0, degree ** -exponent, 0.0)


def _degree_factors(R: sp.csr_matrix, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-user and per-item factors (float64) of :func:`normalize_bipartite`'s ``kind``."""
    user_degree, item_degree = _degrees(R)
    if kind == "sym":
        return _degree_powers(user_degree, 0.5), _degree_powers(item_degree, 0.5)
    if kind == "left":
        with np.errstate(divide="ignore"):
            return np.where(user_degree > 0, 1.0 / user_degree, 0.0), np.ones_like(item_degree)
    raise ValueError(f"unknown normalisation {kind!r}; use 'sym' or 'left'")


SCALE_CHUNK = 1 << 20
"""Entries handled per step by the numpy loops over a matrix's entries in :class:`TiledMatrix`:
their temporaries stay a few MiB (in cache) instead of several arrays as long as the
matrix."""


def _scale_entries(matrix: sp.csr_matrix, user_factor: np.ndarray, item_factor: np.ndarray,
                   out: np.ndarray) -> None:
    """``out[e] = float32(value_e * user_factor[u] * item_factor[i])`` for every stored entry
    ``e`` of R (rows are users) in its order, computed in float64 in that order of factors."""
    scale_entries(matrix.indptr, matrix.indices, matrix.data,
                  np.ascontiguousarray(user_factor, dtype=np.float64),
                  np.ascontiguousarray(item_factor, dtype=np.float64), out)


def bipartite_adjacency(R_hat: sp.csr_matrix) -> sp.csr_matrix:
    """The symmetric ``(n_users + n_items)`` square adjacency ``[[0, R], [R^T, 0]]`` as CSR.

    Laid out directly by :func:`_bipartite_layout`, so no ``2 * nnz`` coordinate list is
    sorted.
    """
    R_hat = _canonical(R_hat)
    data = np.empty(2 * R_hat.nnz, dtype=np.float32)
    data[: R_hat.nnz] = R_hat.data
    indices, indptr = _bipartite_layout(R_hat, data[: R_hat.nnz], data)
    n = sum(R_hat.shape)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _bipartite_layout(R: sp.csr_matrix, item_row_values: np.ndarray,
                      data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, indptr)`` of ``[[0, R], [R^T, 0]]`` for a canonical R (int32 where they
    fit): the user rows are R's rows with the item columns shifted by ``n_users``, the item
    rows R^T's, from one stable counting sort by item, which also carries the item rows'
    values (``item_row_values``, given in R's entry order) into ``data[nnz:]``."""
    n_users, n_items = R.shape
    nnz = R.nnz
    index_dtype = _index_dtype(n_users + n_items + 2 * nnz)
    indptr = np.empty(n_users + n_items + 1, dtype=index_dtype)
    indptr[: n_users + 1] = R.indptr
    indices = np.empty(2 * nnz, dtype=index_dtype)
    np.add(R.indices, n_users, out=indices[:nnz], casting="unsafe")
    item_indptr = np.empty(n_items + 1, dtype=np.int64)
    transpose_csr_into(R.indptr, R.indices, item_row_values, n_items, item_indptr,
                       indices[nnz:], data[nnz:])
    np.add(item_indptr[1:], nnz, out=indptr[n_users + 1 :], casting="unsafe")
    return indices, indptr


def _torch_symmetric_adjacency(R: sp.csr_matrix, device: str | torch.device) -> torch.Tensor:
    """:func:`bipartite_adjacency` of ``normalize_bipartite(R, "sym")`` (bitwise the same
    values) straight into a torch CSR tensor, int32 indices where they fit (see
    :func:`_csr_tensor`)."""
    (adjacency,) = _torch_bipartite_adjacencies(R, device, [(0.5, 0.5)])
    return adjacency


def _torch_bipartite_adjacencies(R: sp.csr_matrix, device: str | torch.device,
                                 exponents: list[tuple[float, float]]) -> list[torch.Tensor]:
    """For each ``(target_exponent, source_exponent)``, the bipartite adjacency of ``R`` with
    entry ``(a, b)`` scaled by ``deg(a)^-target_exponent * deg(b)^-source_exponent``, as a
    torch CSR tensor: row ``a`` receives from its neighbours ``b``. Exponents 0.5 and 0.5 give
    the symmetric normalisation; swapping the two gives the transpose. All share one layout,
    so on the CPU they share its index arrays.

    Built from the raw R, straight into the final arrays. The user rows are R's rows with
    scaled values. The item rows' values are computed in R's order too (for the symmetric
    normalisation they are the user rows' own) and a stable counting sort by item carries
    them, with the users, into place: no normalised copy of R or of its transpose, no
    concatenation, and no gather from the per-user factors in the transpose's random order.
    """
    R = _canonical(R)
    user_degree, item_degree = _degrees(R)
    n_items, nnz = R.shape[1], R.nnz
    n = sum(R.shape)
    layout: tuple[torch.Tensor, torch.Tensor] | None = None
    out = []
    for target, source in exponents:
        data = np.empty(2 * nnz, dtype=np.float32)
        # User rows receive from items, item rows from users.
        _scale_entries(R, _degree_powers(user_degree, target),
                       _degree_powers(item_degree, source), out=data[:nnz])
        if target == source:
            item_rows = data[:nnz]
        else:
            item_rows = np.empty(nnz, dtype=np.float32)
            _scale_entries(R, _degree_powers(user_degree, source),
                           _degree_powers(item_degree, target), out=item_rows)
        if layout is None:
            indices, indptr = _bipartite_layout(R, item_rows, data)
            layout = torch.from_numpy(indptr), torch.from_numpy(indices)
        else:  # the layout is shared: only the values are sorted, the structure to scratch
            transpose_csr_into(R.indptr, R.indices, item_rows, n_items,
                               np.empty(n_items + 1, dtype=np.int64),
                               np.empty(nnz, dtype=R.indices.dtype), data[nnz:])
        out.append(_csr_tensor(*layout, torch.from_numpy(data), (n, n), device))
    return out


def to_torch_sparse(matrix: sp.spmatrix, device: str | torch.device = "cpu") -> torch.Tensor:
    """A scipy matrix as a torch sparse CSR tensor (float32), indices as :func:`_csr_tensor`
    keeps them."""
    csr = matrix.tocsr()
    index_dtype = np.result_type(csr.indptr, csr.indices)
    return _csr_tensor(
        torch.from_numpy(csr.indptr.astype(index_dtype, copy=False)),
        torch.from_numpy(csr.indices.astype(index_dtype, copy=False)),
        torch.from_numpy(csr.data.astype(np.float32, copy=False)),
        csr.shape,
        device,
    )


def _csr_tensor(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor,
                shape: tuple[int, int], device: str | torch.device) -> torch.Tensor:
    """A torch CSR tensor on ``device``. On the CPU int32 indices stay int32: 8 bytes per
    stored entry with its float32 value instead of 12, and torch's CPU products take either
    (bitwise the same sums). Other devices get int64, the layout the CUDA path was checked
    with."""
    if torch.device(device).type != "cpu":
        indptr, indices = indptr.long(), indices.long()
    with warnings.catch_warnings():
        # torch flags sparse CSR as beta; the operations used here (spmm and its
        # gradient with respect to the dense operand) are stable.
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(indptr, indices, values, size=shape, device=device,
                                       check_invariants=False)


class _ConstantSpMM(torch.autograd.Function):
    """``A @ x`` for a constant sparse ``A`` whose transpose is given; the gradient is ``A^T @ g``.

    torch's own backward for sparse CSR transposes ``A`` on every call, which costs several
    times the product itself; passing the transpose once (or ``A`` itself when symmetric)
    makes the backward as cheap as the forward.
    """

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, transpose: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.transpose = transpose
        return _multiply(matrix, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:  # type: ignore[override]
        return None, None, _multiply(ctx.transpose, grad.contiguous())


def _multiply(matrix: torch.Tensor | TiledMatrix, x: torch.Tensor) -> torch.Tensor:
    if isinstance(matrix, TiledMatrix):
        return matrix.matmul(x)
    if matrix.device.type == "cpu" and matrix.layout == torch.sparse_csr:
        return _bag_product(matrix.crow_indices(), matrix.col_indices(), matrix.values(), x)
    return torch.sparse.mm(matrix, x)


def _bag_product(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor | None,
                 x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for the CSR matrix ``(indptr, indices, values)`` on the CPU, as a weighted
    embedding-bag sum: row ``r`` of the product is the sum of ``values[e] * x[indices[e]]``
    over its entries ``e``.

    torch's CSR product on the CPU (MKL) gathers one ``x`` row per entry; the embedding-bag
    kernel is vectorised and prefetches the rows it is about to gather, so the same sums cost
    less: with a 64-column table, one product at 0.9M edges (table in cache) 0.016 s against
    0.026 s, and lgrec's tiled product at 4.7M / 19.2M / 38.6M edges 1.25x / 1.37x / 1.36x as
    fast as its MKL tiles were (section "sparse-product", ``python bench/sparse_product.py``,
    on a 2-core Xeon).
    Each row is summed in the order of its entries, so the result is deterministic; it may
    differ from MKL's in the last bits. ``values`` None means all ones.
    """
    if x.shape[1] == 0:  # embedding_bag rejects zero-width tables
        return x.new_zeros(indptr.numel() - 1, 0)
    if values is not None and values.dtype != x.dtype:
        values = values.to(x.dtype)
    if indices.dtype != indptr.dtype:
        indices = indices.to(indptr.dtype)
    # Detached: the gradient goes through _ConstantSpMM; a table that requires one would
    # make embedding_bag keep its own (slower, and unused) backward buffers.
    return F.embedding_bag(indices, x.detach().contiguous(), indptr, mode="sum",
                           per_sample_weights=values, include_last_offset=True)


def sparse_product(
    matrix: torch.Tensor | TiledMatrix, x: torch.Tensor,
    transpose: torch.Tensor | TiledMatrix | None = None,
) -> torch.Tensor:
    """``matrix @ x`` for a constant sparse matrix (or its :class:`TiledMatrix`);
    ``transpose`` defaults to ``matrix`` (the symmetric case) and is used only for the
    gradient."""
    if x.requires_grad:
        return _ConstantSpMM.apply(matrix, matrix if transpose is None else transpose, x)
    return _multiply(matrix, x)


CACHE_BLOCK_BYTES = 16 << 20
"""Size of the column block of a wide dense table that :func:`column_ranges` aims for: small
enough to stay in a server CPU's last-level cache while a sparse product gathers its rows."""
MIN_BLOCK_COLUMNS = 64
"""Narrower blocks lose more than they gain: each repeats the pass over the sparse index for
fewer columns of work. A 64-column table goes through tiles instead, which were faster than
16-column blocks at 4.7M and 19.2M edges (an exploratory run, three layers: 0.23 s against
0.32 s, 1.46 s against 1.49 s)."""
TILE_BYTES = 32 << 20
"""Width of a :class:`TiledMatrix` tile, in bytes of the table rows it gathers from; tables
larger than this go through tiles. As large as a 32 MiB L3 cache: the embedding-bag product
prefetches the rows it gathers, so a slice that size is read well, and wider tiles split each
row's sum into fewer partial sums. One product at 4.7M / 19.2M / 38.6M edges: 0.105 / 0.588 /
1.553 s with 32 MiB, 0.185 / 0.918 / 2.774 s with 16 MiB (section "sparse-product",
``python bench/sparse_product.py``, on a 2-core Xeon)."""
PARTIAL_SUMS_PER_ROW = 1
"""A :class:`TiledMatrix` keeps the partial sums of at most this many times its rows at once
(a band of rows at a time): they are a table of ``partial sums x d`` values, so with 1 they
never take more memory than the product's own output. Each further band repeats the pass over
every column slice of ``x`` and the bands' sums are copied into one output, which cost little
against the memory: at 19.2M edges (3.5M partial sums, 1.2M rows) LightGCN steps with 1 and
with 4 (one band) took 4.03 / 3.29 s and 3.85 s (medians of 7 steps after the first, two
runs against one), peak RSS 6.78 / 6.49 GiB against 7.72 GiB (an exploratory run, not kept
in bench/)."""


def column_ranges(x: torch.Tensor) -> list[tuple[int, int]]:
    """The ``(start, stop)`` column ranges that cut ``x`` into blocks of about
    :data:`CACHE_BLOCK_BYTES` (at least :data:`MIN_BLOCK_COLUMNS` wide); one range, all of
    ``x``, on a GPU, when it is small already, or when even the narrowest blocks would take
    over twice that (they would not stay in cache either, and each block repeats the pass over
    the sparse index).

    A sparse product gathers one row of ``x`` per non-zero, in no order. Once the table
    outgrows the cache every gather goes to memory; products with cache-sized column blocks,
    one after the other, make the same gathers hit the cache (three LightGCN layers over a
    graph of Gowalla's size on a 2-core EPYC, against the whole table: 1.2 times faster with
    128 columns, 1.7 with 256, 1.9 with 512; section "softmax-step",
    ``python bench/softmax_step.py``). :func:`map_column_blocks` runs a map over them.
    """
    width = x.shape[1] if x.dim() == 2 else 0
    if x.device.type != "cpu" or x.dim() != 2:
        return [(0, width)]
    row_bytes = x.shape[1] * x.element_size()
    n_blocks = min(math.ceil(x.shape[0] * row_bytes / CACHE_BLOCK_BYTES),
                   x.shape[1] // MIN_BLOCK_COLUMNS)
    narrowest_block_bytes = x.shape[0] * row_bytes / max(1, n_blocks)
    if n_blocks <= 1 or narrowest_block_bytes > 2 * CACHE_BLOCK_BYTES:
        return [(0, width)]
    # torch.tensor_split's cuts: the first width % n_blocks blocks one column wider.
    base, wider = divmod(width, n_blocks)
    cuts = [i * base + min(i, wider) for i in range(n_blocks + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def map_column_blocks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                      ranges: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """``fn(x)`` for a map whose columns do not mix (a sparse product, a filter, layers of
    propagation), computed a column block of ``x`` at a time and joined into one output.

    ``ranges`` are consecutive ``(start, stop)`` ranges covering every column (default
    :func:`column_ranges`, cache-sized blocks). Each block is copied out of ``x`` only while
    ``fn`` works on it, so the blocks never make a second copy of ``x``; with one range ``fn``
    gets ``x`` itself (contiguous) and its result is returned as it is.
    """
    ranges = column_ranges(x) if ranges is None else ranges
    if len(ranges) <= 1:
        return fn(x.contiguous())
    (start, stop), *rest = ranges
    first = fn(x[:, start:stop].contiguous())
    output = first.new_empty((first.shape[0], x.shape[1]))
    output[:, start:stop] = first
    del first
    for start, stop in rest:
        output[:, start:stop] = fn(x[:, start:stop].contiguous())
    return output


class TiledMatrix:
    """A constant sparse matrix cut into column tiles, for products with dense tables too
    large for the cache.

    Past the cache, a sparse product's gathers of ``x`` rows go to memory, one row per
    non-zero, in no order. Here the columns are cut into slices of at most ``tile_cols`` rows
    of ``x``, and a product takes two passes of the embedding-bag kernel:

    1. *partial sums*: for each tile in turn, each row's sum over its entries in that tile,
       so that all gathers of a tile hit one cache-sized slice of ``x``. The work is laid out
       so that every thread works in the same tile at the same time (the kernel splits its
       rows evenly between threads, in order).
    2. *row sums*: each row's sum of its partial sums, in column order, gathered in one pass
       that writes each output row once.

    Only the (row, tile) pairs that hold entries get a partial sum. On a bipartite adjacency
    (``[[0, R], [R^T, 0]]``: rows below some ``b`` reach only columns from ``b`` on and the
    rest only columns below ``b``) the cuts are placed on each side of ``b`` apart, each side
    in equal slices, so that no slice mixes users and items and no row is split more than
    its side needs. Each row's sum is fixed by the column cuts alone (it is the sum of its
    partial sums in column order): how the rows are banded (``max_partial_sums``) and how many
    threads run never change a result. The tiles are a second copy of the non-zeros, beside the
    matrix (the other products and the GPU path use the matrix itself).

    ``tile_cols`` is the widest slice, in rows of ``x``; ``max_partial_sums`` the most partial
    sums held at once (default :data:`PARTIAL_SUMS_PER_ROW` times the rows); ``threads`` the
    threads the layout is made for (default torch's number at the cut; another number of
    threads gives the same result, only less evenly shared).
    """

    def __init__(self, matrix: torch.Tensor, tile_cols: int,
                 max_partial_sums: int | None = None, threads: int | None = None) -> None:
        n_rows, n_cols = matrix.shape
        csr = sp.csr_matrix(
            (matrix.values().numpy(), matrix.col_indices().numpy(), matrix.crow_indices().numpy()),
            shape=(n_rows, n_cols),
        )
        if not csr.has_sorted_indices:
            csr = csr.sorted_indices()  # a copy: the matrix's own arrays are left as they are
        self.shape = (n_rows, n_cols)
        self.tile_cols = tile_cols
        self.edges = _column_edges(csr, tile_cols)
        threads = torch.get_num_threads() if threads is None else threads
        indptr = csr.indptr.astype(np.int64)
        tile_of = _tile_of(csr.indices, self.edges)
        # One partial sum per run of a row's entries in one tile (columns are sorted).
        is_start = np.ones(csr.nnz, dtype=bool)
        np.not_equal(tile_of[1:], tile_of[:-1], out=is_start[1:])
        is_start[indptr[:-1][indptr[:-1] < csr.nnz]] = True
        pair_start = np.flatnonzero(is_start)
        del is_start
        pair_row = np.searchsorted(indptr, pair_start, side="right") - 1
        pairs_before = np.concatenate([[0], np.cumsum(np.bincount(pair_row, minlength=n_rows))])
        budget = max(1, PARTIAL_SUMS_PER_ROW * n_rows if max_partial_sums is None
                     else max_partial_sums)
        n_tiles = len(self.edges) - 1
        self.bands: list[tuple[int, int, tuple[torch.Tensor, ...] | None]] = []
        self.n_tiles = 0
        first = 0
        while first < n_rows:
            # As many rows as keep the band's partial sums within the budget (one at least).
            last = int(np.searchsorted(pairs_before, pairs_before[first] + budget,
                                       side="right")) - 1
            last = min(n_rows, max(last, first + 1))
            pairs = slice(int(pairs_before[first]), int(pairs_before[last]))
            passes = None
            if pairs.stop > pairs.start:
                band_tiles = tile_of[pair_start[pairs]]
                self.n_tiles += int(np.count_nonzero(np.bincount(band_tiles)))
                passes = _band_passes(csr, pair_start[pairs], band_tiles,
                                      pairs_before[first:last + 1] - pairs.start,
                                      int(indptr[last]), n_tiles, threads)
            self.bands.append((first, last, passes))
            first = last
        self.n_partial_sums = len(pair_start)
        self.nnz = int(csr.nnz)

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """``matrix @ x``, each row the sum of its partial sums in column order."""
        x = x.contiguous()
        outs = []
        for first, last, passes in self.bands:
            if passes is None:
                outs.append(x.new_zeros(last - first, x.shape[1]))
                continue
            offsets, indices, values, pair_slots, pair_offsets = passes
            partial = _bag_product(offsets, indices, values, x)
            outs.append(_bag_product(pair_offsets, pair_slots, None, partial))
            del partial
        return outs[0] if len(outs) == 1 else torch.cat(outs)


def _bipartite_split(csr: sp.csr_matrix) -> int | None:
    """``b`` if the square ``csr`` is a bipartite adjacency ``[[0, A], [B, 0]]`` whose first
    block has ``b`` rows (rows ``< b`` reach only columns ``>= b``, the others only columns
    ``< b``), else None. Reads each row's first and last column (indices sorted)."""
    n_rows, n_cols = csr.shape
    if n_rows != n_cols or csr.nnz == 0:
        return None
    rows = np.flatnonzero(np.diff(csr.indptr))
    first, last = csr.indices[csr.indptr[rows]], csr.indices[csr.indptr[rows + 1] - 1]
    reaching_back = rows[first < rows]
    if len(reaching_back) == 0:
        return None
    split = int(reaching_back[0])
    upper = rows < split
    if (first[upper] >= split).all() and (last[~upper] < split).all():
        return split
    return None


def _column_edges(csr: sp.csr_matrix, tile_cols: int) -> np.ndarray:
    """Column cuts of a :class:`TiledMatrix`: ``0``, the cuts, ``n_cols``. Each block of
    columns (both sides of a bipartite split, or all columns) in as few equal slices of at
    most ``tile_cols`` as it takes."""
    n_cols = csr.shape[1]
    split = _bipartite_split(csr)
    blocks = [(0, n_cols)] if split is None else [(0, split), (split, n_cols)]
    edges = []
    for lo, hi in blocks:
        count = max(1, math.ceil((hi - lo) / tile_cols))
        edges += [lo + (hi - lo) * k // count for k in range(count)]
    return np.array(edges + [n_cols], dtype=np.int64)


def _tile_of(indices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The tile of each column index (int16 where the tiles are few enough), read from a
    table of every column's tile: one gather per entry instead of a binary search among the
    cuts (the cost-curve adjacency of 19.2M edges: 38.4M entries in 10 tiles, 0.17-0.18 s
    against 0.36-0.39 s in three runs on a 2-core Xeon; an exploratory script, not kept in
    bench/)."""
    dtype = np.int16 if len(edges) <= np.iinfo(np.int16).max else np.int32
    tile_of_column = np.repeat(np.arange(len(edges) - 1, dtype=dtype), np.diff(edges))
    out = np.empty(len(indices), dtype=dtype)
    for start in range(0, len(indices), SCALE_CHUNK):  # numpy widens each chunk's indices
        stop = start + SCALE_CHUNK
        np.take(tile_of_column, indices[start:stop], out=out[start:stop])
    return out


def _band_passes(csr: sp.csr_matrix, pair_start: np.ndarray, pair_tile: np.ndarray,
                 pair_offsets: np.ndarray, band_end: int, n_tiles: int,
                 threads: int) -> tuple[torch.Tensor, ...]:
    """The two embedding-bag passes of one band of a :class:`TiledMatrix`: ``(offsets,
    indices, values)`` of the partial sums and ``(pair_slots, pair_offsets)`` of the row sums.

    ``pair_start`` are the band's (row, tile) pairs in row order, as positions of their first
    entry in ``csr``; ``pair_offsets`` where each row's pairs begin among them (one past the
    last at the end); ``band_end`` is one past the band's last entry.
    """
    n_pairs = len(pair_start)
    pair_length = np.diff(np.append(pair_start, band_end))
    # The partial sums run tile by tile, each tile's rows in order; the kernel hands its i-th
    # 1/threads of them to thread i, so each thread gets its 1/threads of every tile, in tile
    # order: the threads gather from the same slice of x at the same time.
    by_tile = np.argsort(pair_tile, kind="stable")
    per_tile = np.bincount(pair_tile, minlength=n_tiles)
    tile_first = np.concatenate([[0], np.cumsum(per_tile)[:-1]])
    rank = np.empty(n_pairs, dtype=np.int64)
    rank[by_tile] = np.arange(n_pairs) - tile_first[pair_tile[by_tile]]
    share = rank * threads // per_tile[pair_tile]
    slot_pair = np.argsort(share * n_tiles + pair_tile, kind="stable")
    slot_of_pair = np.empty(n_pairs, dtype=np.int64)
    slot_of_pair[slot_pair] = np.arange(n_pairs)
    lengths = pair_length[slot_pair]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    # The entries in slot order, built in place: int32 where they fit, the arange in chunks.
    position_dtype = _index_dtype(csr.nnz)
    entry = np.repeat((pair_start[slot_pair] - offsets[:-1]).astype(position_dtype), lengths)
    for start in range(0, len(entry), SCALE_CHUNK):
        chunk = entry[start:start + SCALE_CHUNK]
        chunk += np.arange(start, start + len(chunk), dtype=position_dtype)
    entry_dtype = _index_dtype(max(csr.shape[1], len(entry)))
    pair_dtype = _index_dtype(n_pairs)
    return (torch.from_numpy(offsets.astype(entry_dtype)),
            torch.from_numpy(csr.indices[entry].astype(entry_dtype, copy=False)),
            torch.from_numpy(csr.data[entry].astype(np.float32, copy=False)),
            torch.from_numpy(slot_of_pair.astype(pair_dtype)),
            torch.from_numpy(pair_offsets.astype(pair_dtype)))


_TILES: dict[int, dict[int, TiledMatrix]] = {}
"""Tiles already cut, by ``id`` of the adjacency and tile size; dropped with the adjacency
(a sparse tensor cannot key a ``WeakKeyDictionary``: its equality is undefined)."""


def tiles_for(adjacency: torch.Tensor, x: torch.Tensor) -> TiledMatrix | None:
    """The tiles to multiply ``adjacency`` with ``x`` by, or None where the plain product is
    as good: on a GPU, or when ``x`` is within :data:`TILE_BYTES` (cache-sized already, or
    cut by :func:`column_ranges`). Tiles are at most ``TILE_BYTES`` of ``x`` rows wide, cut on
    first use and kept for the adjacency's lifetime."""
    if adjacency.device.type != "cpu" or adjacency.layout != torch.sparse_csr or x.dim() != 2:
        return None
    row_bytes = x.shape[1] * x.element_size()
    if x.shape[0] * row_bytes <= TILE_BYTES:
        return None
    side = max(1, TILE_BYTES // row_bytes)
    key = id(adjacency)
    if key not in _TILES:
        _TILES[key] = {}
        weakref.finalize(adjacency, _TILES.pop, key, None)
    by_side = _TILES[key]
    if side not in by_side:
        by_side[side] = TiledMatrix(adjacency, side)
    return by_side[side]


def adjacency_spmm(adjacency: torch.Tensor, x: torch.Tensor,
                   transpose: torch.Tensor | None = None) -> torch.Tensor:
    """Product of a constant sparse matrix, symmetric unless its ``transpose`` is given, with
    a dense one, cheap in both passes; in cache-sized tiles (:class:`TiledMatrix`) when ``x``
    is too large for the cache."""
    tiled = tiles_for(adjacency, x)
    matrix = adjacency if tiled is None else tiled
    if transpose is None:
        return sparse_product(matrix, x)
    tiled_transpose = tiles_for(transpose, x)
    return sparse_product(matrix, x, transpose if tiled_transpose is None else tiled_transpose)


@dataclass
class Graph:
    """A user-item interaction graph ready for message passing.

    ``R`` is the raw interaction matrix (users x items), ``adjacency`` the symmetric normalised
    bipartite adjacency as a torch sparse tensor on ``device``.
    """

    n_users: int
    n_items: int
    R: sp.csr_matrix
    adjacency: torch.Tensor
    _user_mean: tuple[torch.Tensor, torch.Tensor] | None = None
    _scaled: dict[tuple[float, float], torch.Tensor] = field(default_factory=dict)

    def scaled_adjacency(self, target_exponent: float, source_exponent: float) -> torch.Tensor:
        """The bipartite adjacency with entry ``(a, b)`` scaled by
        ``deg(a)^-target_exponent * deg(b)^-source_exponent`` (``adjacency`` itself for 0.5
        and 0.5); its transpose is ``scaled_adjacency(source_exponent, target_exponent)``.
        Built on first use, together with its transpose, and both kept with the graph."""
        key = (float(target_exponent), float(source_exponent))
        if key == (0.5, 0.5):
            return self.adjacency
        if key not in self._scaled:
            swapped = key[::-1]
            self._scaled[key], self._scaled[swapped] = _torch_bipartite_adjacencies(
                self.R, self.adjacency.device, [key, swapped])
        return self._scaled[key]

    def user_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Each user's mean over the rows of ``x`` (n_items x d) of the items they interacted
        with (zero for users without interactions); differentiable in ``x``."""
        if self._user_mean is None:
            left = normalize_bipartite(self.R, "left")
            device = self.adjacency.device
            self._user_mean = (to_torch_sparse(left, device), to_torch_sparse(left.T, device))
        matrix, transpose = self._user_mean
        return sparse_product(matrix, x, transpose)

    @property
    def n_nodes(self) -> int:
        return self.n_users + self.n_items

    @property
    def n_edges(self) -> int:
        return int(self.R.nnz)

    def to(self, device: str | torch.device) -> Graph:
        adjacency, target = self.adjacency, torch.device(device)
        if target.type == "cuda" and target.index is None:
            # "cuda" is the current device: where it already is, keep the same tensor
            # (caches key on it).
            target = torch.device("cuda", torch.cuda.current_device())
        if adjacency.device != target:
            adjacency = _csr_tensor(adjacency.crow_indices(), adjacency.col_indices(),
                                    adjacency.values(), adjacency.shape, device)
        return Graph(self.n_users, self.n_items, self.R, adjacency)

    @classmethod
    def from_interactions(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        n_users: int,
        n_items: int,
        *,
        weights: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> Graph:
        """Build R, normalise it symmetrically and lay out the bipartite adjacency."""
        return cls.from_csr(interaction_matrix(users, items, n_users, n_items, weights), device)

    @classmethod
    def from_csr(cls, R: sp.csr_matrix, device: str | torch.device = "cpu") -> Graph:
        adjacency = _torch_symmetric_adjacency(R, device)
        return cls(R.shape[0], R.shape[1], R.tocsr(), adjacency)
