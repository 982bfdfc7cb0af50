"""The graph build's loops, compiled with numba: compressed sparse rows from coordinates by
cache-blocked counting sorts, and the degree scaling of their entries.

A counting sort places each entry straight at its row's next free slot. Done in one pass, on
a graph whose arrays are larger than the CPU's cache every placement is a cache miss, so the
time per edge grows with the graph (scipy's ``coo_tocsr`` and ``tocsc`` are such passes). Here
each sort runs in two: entries first go to one of at most :data:`MAX_BLOCKS` blocks of
consecutive rows (a few hundred write streams, each written in order), then each block, whose
rows and slots span a small stretch of memory, is counted and placed on its own. Every pass
reads or writes in order or within one block, so no entry costs a cache miss of its own. What
still rises with the graph is the passes' streaming, from the cache while the arrays fit it
and from main memory once they do not: on a 2-core Xeon with a 48 MiB L3, 66 / 67 / 77 ns per
edge at 0.9M / 4.7M / 19.2M edges for the whole build (BENCHMARKS.md, section
"cost-curves-build-kernels").

Both passes keep the order entries arrive in (the sort is stable), so sorting by column and
then by row leaves every row's columns in order, with no comparison sort.
"""

from __future__ import annotations

import numba
import numpy as np

MAX_BLOCKS = 256
"""Blocks of consecutive rows in the first pass. Each takes one write stream per array, and
the streams' pages must stay within the TLB's reach, while each block's rows and slots shrink
with their number. In an exploratory run at 19.2M edges, 64 to 1,024 blocks cost about the
same (within 15%) and 4,096 over twice as much."""


@numba.njit(cache=True, nogil=True)
def _block_shift(n_rows: int, max_blocks: int) -> int:
    shift = 0
    while ((n_rows - 1) >> shift) + 1 > max_blocks:
        shift += 1
    return shift


@numba.njit(cache=True, nogil=True)
def sort_by_row(rows, cols, values, n_rows, max_blocks=MAX_BLOCKS):  # noqa: ANN001, ANN201
    """Stable counting sort of the entries ``(rows[e], cols[e], values[e])`` by row.

    Returns ``(indptr, sorted_cols, sorted_values)``: row ``r``'s entries are
    ``sorted_cols[indptr[r]:indptr[r + 1]]``, in the order they came in. ``values`` may be
    empty (entries without values, e.g. a binary matrix's); ``sorted_values`` then is too.
    Raises ``ValueError`` if a row is outside ``0..n_rows-1``, before writing anything.
    """
    nnz = rows.shape[0]
    indptr = np.empty(n_rows + 1, np.int64)
    sorted_cols = np.empty(nnz, cols.dtype)
    sorted_values = np.empty(values.shape[0], values.dtype)
    sort_by_row_into(rows, cols, values, n_rows, indptr, sorted_cols, sorted_values, max_blocks)
    return indptr, sorted_cols, sorted_values


@numba.njit(cache=True, nogil=True)
def sort_by_row_into(rows, cols, values, n_rows, indptr, sorted_cols, sorted_values,  # noqa: ANN001, ANN201
                     max_blocks=MAX_BLOCKS):
    """:func:`sort_by_row` into given arrays (``indptr`` of ``n_rows + 1`` entries, the other
    two as long as ``rows``, or ``sorted_values`` empty with ``values``), so that a caller can
    place the result inside larger arrays."""
    nnz = rows.shape[0]
    carry_values = values.shape[0] > 0
    shift = _block_shift(max(n_rows, 1), max_blocks)
    n_blocks = ((max(n_rows, 1) - 1) >> shift) + 1
    block_start = np.zeros(n_blocks + 1, np.int64)
    for e in range(nnz):
        r = rows[e]
        if r < 0 or r >= n_rows:
            raise ValueError("an index lies outside the matrix")
        block_start[(r >> shift) + 1] += 1
    for b in range(n_blocks):
        block_start[b + 1] += block_start[b]

    # First pass: each entry to its block, in arrival order.
    block_next = block_start[:-1].copy()
    block_rows = np.empty(nnz, rows.dtype)
    block_cols = np.empty(nnz, cols.dtype)
    block_values = np.empty(values.shape[0], values.dtype)
    for e in range(nnz):
        r = rows[e]
        b = r >> shift
        slot = block_next[b]
        block_next[b] = slot + 1
        block_rows[slot] = r
        block_cols[slot] = cols[e]
        if carry_values:
            block_values[slot] = values[e]

    # Second pass, block by block: count its rows, then place its entries.
    indptr[0] = 0
    width = 1 << shift
    row_next = np.empty(width, np.int64)
    for b in range(n_blocks):
        first_row = b << shift
        n_here = min(width, n_rows - first_row)
        start, stop = block_start[b], block_start[b + 1]
        row_next[:n_here] = 0
        for e in range(start, stop):
            row_next[block_rows[e] - first_row] += 1
        running = start
        for j in range(n_here):
            count = row_next[j]
            row_next[j] = running
            running += count
            indptr[first_row + j + 1] = running
        for e in range(start, stop):
            j = block_rows[e] - first_row
            slot = row_next[j]
            row_next[j] = slot + 1
            sorted_cols[slot] = block_cols[e]
            if carry_values:
                sorted_values[slot] = block_values[e]


@numba.njit(cache=True, nogil=True)
def _row_of_each_entry(indptr, dtype_like):  # noqa: ANN001, ANN202
    n_rows = indptr.shape[0] - 1
    out = np.empty(indptr[n_rows], dtype_like.dtype)
    for r in range(n_rows):
        for e in range(indptr[r], indptr[r + 1]):
            out[e] = r
    return out


@numba.njit(cache=True, nogil=True)
def _sum_duplicates(indptr, indices, values, data):  # noqa: ANN001, ANN202
    """Merge equal neighbours within each (sorted) row in place, writing their values' sum in
    order into ``data`` (which may be ``values`` itself), or their count where ``values`` is
    empty; returns the new indptr (the arrays' heads hold the merged entries)."""
    n_rows = indptr.shape[0] - 1
    carry_values = values.shape[0] > 0
    merged = np.empty(n_rows + 1, np.int64)
    merged[0] = 0
    write = 0
    for r in range(n_rows):
        start, stop = indptr[r], indptr[r + 1]
        e = start
        while e < stop:
            col = indices[e]
            first = e
            e += 1
            while e < stop and indices[e] == col:
                e += 1
            if carry_values:
                total = values[first]
                for d in range(first + 1, e):
                    total += values[d]
                data[write] = total
            else:
                data[write] = e - first
            indices[write] = col
            write += 1
        merged[r + 1] = write
    return merged


@numba.njit(cache=True, nogil=True)
def csr_from_coordinates(rows, cols, values, n_rows, n_cols,  # noqa: ANN001, ANN201
                         max_blocks=MAX_BLOCKS):
    """CSR arrays ``(indptr, indices, data)`` of the ``n_rows x n_cols`` matrix with entries
    ``values[e]`` at ``(rows[e], cols[e])``: columns sorted within each row, duplicates summed
    in the order they came in. Two stable sorts, by column and then by row. With ``values``
    empty every entry is 1 (a binary matrix, duplicates counted) and no values are carried
    through the sorts. Raises ``ValueError`` if an index lies outside the matrix."""
    col_indptr, rows_by_col, values_by_col = sort_by_row(cols, rows, values, n_cols, max_blocks)
    cols_by_col = _row_of_each_entry(col_indptr, cols)
    indptr, indices, sorted_values = sort_by_row(rows_by_col, cols_by_col, values_by_col,
                                                 n_rows, max_blocks)
    data = sorted_values if values.shape[0] > 0 else np.empty(indices.shape[0], values.dtype)
    merged = _sum_duplicates(indptr, indices, sorted_values, data)
    nnz = merged[n_rows]
    if nnz == indices.shape[0]:
        return indptr, indices, data
    return merged, indices[:nnz].copy(), data[:nnz].copy()


@numba.njit(cache=True, nogil=True)
def transpose_csr_into(indptr, indices, values, n_cols, out_indptr, out_indices,  # noqa: ANN001, ANN201
                       out_values, max_blocks=MAX_BLOCKS):
    """CSR arrays of the transpose of a CSR matrix with ``n_cols`` columns, into given arrays
    (``out_indptr`` of ``n_cols + 1`` entries, the other two as long as ``indices``); as the
    rows come in order, each transposed row's columns are sorted too."""
    rows = _row_of_each_entry(indptr, indices)
    sort_by_row_into(indices, rows, values, n_cols, out_indptr, out_indices, out_values,
                     max_blocks)


@numba.njit(cache=True, nogil=True)
def scale_entries(indptr, indices, values, row_factor, col_factor, out):  # noqa: ANN001, ANN201
    """``out[e] = float32(values[e] * row_factor[row] * col_factor[col])``, computed in float64
    in that order, for every stored entry ``e`` of a CSR matrix: one pass, no temporaries."""
    n_rows = indptr.shape[0] - 1
    for r in range(n_rows):
        row_value = row_factor[r]
        for e in range(indptr[r], indptr[r + 1]):
            out[e] = np.float64(values[e]) * row_value * col_factor[indices[e]]
