"""Truncated SVD of sparse (normalised) interaction matrices: the graph's smoothest signals.

Used by the graph filter (its ideal low-pass part) and by the spectral initialisation of
embedding models.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

from lgrec.graph.adjacency import map_column_blocks, sparse_product, to_torch_sparse

EXACT_SVD_WORK = 2e7
"""With ``svd="auto"``, an exact truncated SVD is used while ``nnz(R) * rank`` stays below this
(MovieLens-100K at rank 64: 5e6, well under a second); above it the randomized one."""

GRAM_ROWS = 1 << 16
"""Rows of the projected matrix turned into float64 at a time while its Gram matrix is summed,
so that the float64 copy stays small whatever the number of users."""


def top_right_singular_vectors(
    matrix: sp.csr_matrix,
    rank: int,
    *,
    method: str = "auto",
    power_iterations: int = 4,
    oversample: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """The ``rank`` leading right singular vectors of a sparse matrix, as columns (n x rank).

    ``method`` is ``exact`` (Lanczos; a dense LAPACK SVD when ``rank`` is close to the smaller
    side, where Lanczos cannot run), ``randomized`` (subspace iteration from a random start
    with ``power_iterations`` + 1 products with ``A^T A`` and ``oversample`` extra columns,
    :func:`_randomized_right_vectors`) or ``auto``.
    """
    m, n = matrix.shape
    rank = min(rank, m, n)
    if rank <= 0:
        return np.zeros((n, 0), dtype=np.float32)
    if method == "auto":
        method = "exact" if matrix.nnz * rank <= EXACT_SVD_WORK else "randomized"
    if method == "exact":
        if rank >= min(m, n) - 1:
            # Only for tiny matrices (rank >= the smaller side - 1), so the dense copy is at
            # most about rank x n, the size of the result.
            _, _, vt = np.linalg.svd(matrix.toarray().astype(np.float64), full_matrices=False)
            return vt[:rank].T.astype(np.float32)
        a = matrix.astype(np.float64)
        try:
            _, s, vt = svds(a, k=rank, solver="propack", random_state=seed)
        except ValueError:  # scipy builds without PROPACK
            _, s, vt = svds(a, k=rank, solver="arpack", random_state=seed)
        return vt[np.argsort(-s)].T.astype(np.float32)
    if method != "randomized":
        raise ValueError(f"unknown svd method {method!r}; use 'auto', 'exact' or 'randomized'")
    return _randomized_right_vectors(matrix, rank, power_iterations, oversample, seed)


def _randomized_right_vectors(matrix: sp.spmatrix, rank: int, power_iterations: int,
                              oversample: int, seed: int) -> np.ndarray:
    """Randomized subspace iteration for the top right singular vectors (Halko, Martinsson and
    Tropp 2011, algorithms 4.4 and 5.1), kept on the item side.

    A random n x w start (``w = rank + oversample``) goes ``power_iterations + 1`` times
    through ``A^T A``, the same Krylov degree as Halko's range finder with that many power
    iterations. Between products the block is re-based by an LU factorisation (its permuted
    ``L`` spans the same columns; half the work of a QR, as in scikit-learn's
    ``randomized_svd``) so that the small directions do not drown in rounding; the last one is
    a QR. Rayleigh-Ritz then picks the best ``rank`` directions of that orthonormal basis
    ``Q``: the eigenvectors of ``(AQ)^T (AQ)``, a w x w Gram matrix summed in float64.

    The dense blocks are n x w or w x w, but for the users x w product ``A x`` inside each
    step and ``AQ``; none of them is factorised. The range finder used before (Halko's
    algorithm 4.4 as written: a QR after every product on both sides, then the SVD of the
    w x n matrix ``Q^T A``) spent most of its time in QRs of users x w blocks and in that
    wide SVD. The graph filter's fit at rank 256 (section "cost-curves", graph-filter phase,
    on a 2-core Xeon) took 5.08 / 39.6 / 193 s at 0.9M / 4.7M / 19.2M interactions with it,
    1.63 / 8.27 / 33.9 s with this (medians of two rounds; two earlier runs gave 39.5 and
    43.4 s at 19.2M on the shared machine). The sparse products go through lgrec's
    embedding-bag product, a cache-sized column block at a time.
    """
    m, n = matrix.shape
    a = matrix.tocsr().astype(np.float32)
    forward, backward = to_torch_sparse(a), to_torch_sparse(a.T.tocsr())
    width = min(rank + oversample, m, n)
    rng = np.random.default_rng(seed)
    basis = torch.from_numpy(rng.standard_normal((n, width), dtype=np.float32))
    for step in range(power_iterations + 1):
        block = _product(backward, _product(forward, basis))
        if step < power_iterations:
            permuted_lower = sla.lu(block.numpy(), permute_l=True, overwrite_a=True,
                                    check_finite=False)[0]
            basis = torch.from_numpy(np.ascontiguousarray(permuted_lower))
        else:
            basis = torch.linalg.qr(block).Q
    projected = _product(forward, basis)
    gram = torch.zeros((width, width), dtype=torch.float64)
    for start in range(0, m, GRAM_ROWS):
        rows = projected[start : start + GRAM_ROWS].double()
        gram += rows.T @ rows
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    leading = torch.argsort(eigenvalues, descending=True)[:rank]
    vectors = basis @ eigenvectors[:, leading].float()
    return np.ascontiguousarray(vectors.numpy())


def _product(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a wide dense ``x``, a cache-sized column block at a time."""
    return map_column_blocks(lambda block: sparse_product(matrix, block), x)


def spectral_embeddings(
    normalised: sp.csr_matrix, dim: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """User and item vectors ``U sqrt(S)`` and ``V sqrt(S)`` of the top-``dim`` SVD of
    ``normalised`` (users x items): their dot products are its best rank-``dim``
    approximation. Columns past the matrix rank are zero."""
    v = top_right_singular_vectors(normalised, dim, seed=seed)
    projected = np.asarray(normalised @ v, dtype=np.float64)  # = U S
    singular = np.linalg.norm(projected, axis=0)
    safe = np.where(singular > 0, singular, 1.0)
    users = projected / np.sqrt(safe)
    items = v * np.sqrt(singular)
    pad = dim - v.shape[1]
    if pad > 0:
        users = np.pad(users, ((0, 0), (0, pad)))
        items = np.pad(items, ((0, 0), (0, pad)))
    return users.astype(np.float32), items.astype(np.float32)
