"""Truncated SVD of sparse (normalised) interaction matrices: the graph's smoothest signals.

Used by the graph filter (its ideal low-pass part) and by the spectral initialisation of
embedding models.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import svds

EXACT_SVD_WORK = 2e7
"""With ``svd="auto"``, an exact truncated SVD is used while ``nnz(R) * rank`` stays below this
(MovieLens-100K at rank 64: 5e6, well under a second); above it the randomized one."""

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
    side, where Lanczos cannot run), ``randomized`` (range finder with ``power_iterations``
    QR-stabilised power iterations and ``oversample`` extra columns) or ``auto``.
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
    rng = np.random.default_rng(seed)
    a = matrix.astype(np.float32).tocsr()
    at = a.T.tocsr()
    width = min(rank + oversample, m, n)
    q, _ = sla.qr(a @ rng.standard_normal((n, width)).astype(np.float32), mode="economic")
    for _ in range(power_iterations):
        # Re-orthonormalising after every product keeps the small singular directions from
        # drowning in rounding error (Halko et al. 2011, algorithm 4.4).
        q, _ = sla.qr(at @ q, mode="economic")
        q, _ = sla.qr(a @ q, mode="economic")
    _, _, vt = np.linalg.svd((at @ q).T, full_matrices=False)
    return np.ascontiguousarray(vt[:rank].T, dtype=np.float32)


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
