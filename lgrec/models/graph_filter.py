"""Graph filter: a training-free, closed-form low-pass filter on the normalised item-item graph,
GF-CF (Shen et al., "How Powerful is Graph Convolution for Recommendation?", CIKM 2021) and its
Chebyshev generalisation ChebyCF (Kim et al., "Graph Spectral Filtering with Chebyshev
Interpolation for Recommendation", SIGIR 2025).

With the interaction matrix ``R`` (users x items), its degree-normalised form
``R̃ = D_u^-1/2 R D_i^-1/2``, the item-item graph ``P̃ = R̃^T R̃`` (eigenvalues in [0, 1]) and
``V`` the top-``rank`` right singular vectors of ``R̃`` (n_items x rank), the scores of user
``u`` (their training row ``r_u``) are

    s_u = h(P̃) (r_u D_i^-β) D_i^β  +  alpha * (r_u D_i^-γ) V V^T D_i^γ

with β = ``degree_power`` and γ = ``ideal_degree_power``. The first term is a low-pass filter
``h`` of the item graph; the second an ideal low-pass filter that keeps only the smoothest
``rank`` graph signals. ``h`` is a "plateau" response of the eigenvalue λ of ``P̃``: 1 at λ = 1,
0 at λ = 0, 1/2 at λ = 1/2, with ``flatness`` φ shaping it (in x = 1 - 2λ:
``h = 1/2 - sign(x) |x|^φ / 2``). φ = 1 is the straight line h(λ) = λ, i.e. the linear filter
``P̃`` itself: GF-CF is ``flatness=1, degree_power=0, ideal_degree_power=0.5``. φ > 1 keeps
more of the smooth signals and cuts more of the rough ones, the non-linear filter of ChebyCF;
it is applied as the Chebyshev interpolant of degree ``order`` in ``L̃ = I - 2 P̃``, i.e.
``order`` products with ``P̃``. β > 0 divides the input by item degree and multiplies the
output back, which evens out the bias of the filter towards popular items.
Nothing is learned by gradient descent: :meth:`GraphFilter.fit_closed_form` runs one truncated
SVD of the sparse ``R̃`` (seconds).

Memory. ``P̃`` is n_items x n_items and is never materialised: every product with it is
evaluated factored, ``R̃^T (R̃ x)``, as two sparse-dense products per batch of users. The model
keeps ``R`` (one index and one value per interaction, twice, once per orientation) and ``V``
(n_items x rank floats); scoring a batch of ``b`` users needs about ``4 b x n_items`` floats
on top (the input, the output, and the two terms' scores), plus the filter's work on one
block of the batch at a time, whose ``R̃ x`` is at most :data:`USER_BLOCK_BYTES`. Nothing
grows with n_items², so catalogues of any size that fit ``R`` fit the model; the costs are
time (each batch reads all of ``R`` twice per order of the filter) and the SVD, which is
exact (Lanczos, scipy PROPACK) while ``nnz(R) * rank`` is small and randomized (subspace
iteration after Halko et al. 2011) past :data:`EXACT_SVD_WORK`.
MovieLens-100K (rank 32) fits in 0.03-0.1 s. Gowalla's training file (30k users, 41k items,
810k interactions, rank 256, randomized SVD) takes 3.2 to 3.8 s for the SVD on 2 cores, and
the Gowalla table's whole fit (a fit on the validation carve-out, its validation, and the
refit) 10.2 s; with ChebyCF's setting (rank 512, order 8) 24.3 s, and its test evaluation
321 users/s (section "bench-gowalla", 2-core Xeon). The memory the fit needs past its
result is the SVD's: a few dense blocks of n_items x (rank + 32) floats and one of
n_users x (rank + 32) at a time.

Protocol. Scores are not a dot product of stored vectors, so the model overrides
:meth:`Model.score_users`. :meth:`forward` returns the vectors of the low-pass term
(``e_u = r_u D_i^-γ V``, ``e_i = D_i^γ V``): their dot product is that term exactly, and
they serve similar items and vector indexes (the cosine of two item vectors is the cosine of
their rows of ``V``, i.e. their spectral embeddings).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from lgrec.graph import (
    Graph,
    column_ranges,
    map_column_blocks,
    normalize_bipartite,
    sparse_product,
    to_torch_sparse,
)
from lgrec.graph.spectral import top_right_singular_vectors
from lgrec.models.base import Model

log = logging.getLogger(__name__)

USER_BLOCK_BYTES = 256 << 20
"""Largest ``R̃ x`` (n_users x a block of the histories being scored) the filter keeps at once:
past it the block is cut narrower, so that scoring memory does not grow with n_users x the
batch (at 1M users a 1,024-user batch would hold 4 GiB there)."""

_STATE = ("r_indptr", "r_indices", "r_data", "item_degree", "factors")
"""Buffers whose shapes depend on the fitted data (resized when a state dict is loaded)."""


class GraphFilter(Model):
    """Low-pass item-item filter plus an ideal low-pass filter of ``rank`` components.

    ``alpha`` weighs the ideal term (0 keeps the item-graph filter alone); ``flatness`` and
    ``order`` shape the item-graph filter (1 and any order: GF-CF's linear filter);
    ``degree_power`` and ``ideal_degree_power`` are the item-degree exponents β and γ of the
    two terms (module docstring); ``svd`` and ``power_iterations`` choose how the singular
    vectors are computed (see :func:`top_right_singular_vectors`); ``seed`` makes them
    reproducible.
    """

    name = "graph-filter"
    trainable = False

    def __init__(
        self,
        n_users: int,
        n_items: int,
        rank: int = 64,
        alpha: float = 0.5,
        svd: str = "auto",
        power_iterations: int = 4,
        seed: int = 2020,
        flatness: float = 1.0,
        order: int = 8,
        degree_power: float = 0.0,
        ideal_degree_power: float = 0.5,
    ) -> None:
        super().__init__(n_users, n_items)
        if flatness <= 0:
            raise ValueError(f"flatness must be positive, got {flatness}")
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        self.rank = rank
        self.alpha = alpha
        self.flatness = flatness
        self.order = order
        self.degree_power = degree_power
        self.ideal_degree_power = ideal_degree_power
        self.svd = svd
        self.power_iterations = power_iterations
        self.seed = seed
        # The training matrix R as CSR arrays (scores are computed from each user's row) and the
        # item-side factors; all plain tensors so that safetensors can store them.
        self.register_buffer("r_indptr", torch.zeros(n_users + 1, dtype=torch.int64))
        self.register_buffer("r_indices", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("r_data", torch.zeros(0))
        self.register_buffer("item_degree", torch.zeros(n_items))
        self.register_buffer("factors", torch.zeros(n_items, 0))  # V
        self._cache: dict[str, Any] = {}

    def params(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "svd": self.svd,
            "power_iterations": self.power_iterations,
            "seed": self.seed,
            "flatness": self.flatness,
            "order": self.order,
            "degree_power": self.degree_power,
            "ideal_degree_power": self.ideal_degree_power,
        }

    # ----------------------------------------------------------------- fit
    def fit_closed_form(self, R: sp.csr_matrix) -> None:
        R = R.tocsr().astype(np.float32)
        R.sum_duplicates()
        normalised = normalize_bipartite(R, "sym")
        degree = np.asarray(R.sum(axis=0), dtype=np.float64).ravel()
        factors = top_right_singular_vectors(
            normalised, self.rank, method=self.svd,
            power_iterations=self.power_iterations, seed=self.seed,
        )
        device = self.r_indptr.device
        self.r_indptr = torch.from_numpy(R.indptr.astype(np.int64)).to(device)
        self.r_indices = torch.from_numpy(R.indices.astype(np.int64)).to(device)
        self.r_data = torch.from_numpy(R.data.astype(np.float32)).to(device)
        self.item_degree = torch.from_numpy(degree.astype(np.float32)).to(device)
        # Row-major, like the loaded copy will be, so both take the same BLAS path (same floats).
        self.factors = torch.from_numpy(np.ascontiguousarray(factors)).to(device)
        self._cache = {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[override]
        # The fitted buffers' sizes (interactions, rank) are not known at construction: take
        # them from the incoming state so that a saved model loads into a fresh instance.
        for name in _STATE:
            incoming = state_dict.get(prefix + name)
            if incoming is not None:
                current = self._buffers[name]
                self._buffers[name] = torch.empty(
                    incoming.shape, dtype=current.dtype, device=current.device
                )
        self._cache = {}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _apply(self, fn, recurse: bool = True):  # type: ignore[override]
        self._cache = {}  # cached sparse tensors live on the old device
        return super()._apply(fn, recurse)

    # -------------------------------------------------------------- scoring
    def interactions(self) -> sp.csr_matrix:
        """The training matrix ``R`` the model was fitted on."""
        if "R" not in self._cache:
            self._cache["R"] = sp.csr_matrix(
                (self.r_data.cpu().numpy(), self.r_indices.cpu().numpy(),
                 self.r_indptr.cpu().numpy()),
                shape=(self.n_users, self.n_items),
            )
        return self._cache["R"]

    def _normalised(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``R̃`` and ``R̃^T`` as torch sparse CSR on the model's device."""
        if "normalised" not in self._cache:
            normalised = normalize_bipartite(self.interactions(), "sym")
            device = self.factors.device
            self._cache["normalised"] = (
                to_torch_sparse(normalised, device),
                to_torch_sparse(normalised.T, device),
            )
        return self._cache["normalised"]

    def degree_scale(self, power: float) -> torch.Tensor:
        """``d_i^power`` per item, 0 for items without training interactions."""
        degree = self.item_degree
        return torch.where(degree > 0, degree.clamp_min(1e-12).pow(power), 0.0)

    def forward(self, graph: Graph | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors of the ideal low-pass term: ``(R D_i^-γ V, D_i^γ V)``; ``graph`` is unused
        (the model keeps the matrix it was fitted on)."""
        return self._project(self.interactions()), self.item_vectors()

    def item_vectors(self) -> torch.Tensor:
        """``D_i^γ V``: the item side of the ideal term."""
        return self.degree_scale(self.ideal_degree_power)[:, None] * self.factors

    def _project(self, rows: sp.spmatrix) -> torch.Tensor:
        """``rows D_i^-γ V``: the user side of the ideal term for interaction rows."""
        inverse = self.degree_scale(-self.ideal_degree_power).cpu().numpy()
        projected = rows @ (inverse[:, None] * self.factors.cpu().numpy())
        return torch.from_numpy(np.asarray(projected, dtype=np.float32)).to(self.factors.device)

    def chebyshev_coefficients(self) -> np.ndarray:
        """Coefficients ``c_0..c_order`` of the Chebyshev interpolant of the plateau response
        in x = 1 - 2λ, at the ``order + 1`` Chebyshev nodes of the first kind."""
        nodes = np.arange(self.order + 1)
        angles = np.pi * (nodes + 0.5) / (self.order + 1)
        x = np.cos(angles)
        target = 0.5 - 0.5 * np.sign(x) * np.abs(x) ** self.flatness
        coefficients = 2.0 / (self.order + 1) * np.cos(np.outer(nodes, angles)) @ target
        coefficients[0] /= 2
        return coefficients

    def linear_scores(self, histories: sp.spmatrix | np.ndarray) -> torch.Tensor:
        """``h(P̃)`` applied to interaction rows ``histories`` (b x n_items), with the degree
        scaling of β; ``P̃`` is never built. Any rows work, also ones of users the model was
        not fitted on.

        The filter acts on each history alone, so the signal (n_items x b) goes through it a
        cache-sized block of histories at a time (:func:`lgrec.graph.map_column_blocks`): the
        sparse products gather from a block that stays in cache, and the recursion's
        element-wise updates, done in place, stay in cache too. Blocks are also cut so that
        their ``R̃ x`` stays within :data:`USER_BLOCK_BYTES`.
        """
        if sp.issparse(histories):
            # b x items in column order is items x b in row order: no transposing copy.
            signal = histories.astype(np.float32).toarray(order="F").T
        else:
            signal = np.ascontiguousarray(np.asarray(histories, dtype=np.float32).T)
        signal = torch.from_numpy(signal).to(self.factors.device)
        if self.degree_power:  # not in place: a dense input's transpose may be the caller's array
            signal = signal * self.degree_scale(-self.degree_power)[:, None]
        widest = max(1, USER_BLOCK_BYTES // (max(1, self.n_users) * signal.element_size()))
        ranges = [(first, min(stop, first + widest)) for start, stop in column_ranges(signal)
                  for first in range(start, stop, widest)]
        output = map_column_blocks(self._filter, signal, ranges)
        if self.degree_power:
            output *= self.degree_scale(self.degree_power)[:, None]
        return output.t()

    def _filter(self, signal: torch.Tensor) -> torch.Tensor:
        """``h(P̃) signal`` for a block of columns."""
        normalised, transposed = self._normalised()

        def smooth(x: torch.Tensor) -> torch.Tensor:
            # P̃ x = R̃^T (R̃ x): two sparse x dense products.
            return sparse_product(transposed, sparse_product(normalised, x))

        if self.flatness == 1.0:
            # The plateau with φ = 1 is h(λ) = λ: its interpolant of any order is P̃ itself.
            return smooth(signal)
        coefficients = self.chebyshev_coefficients()
        # T_0 and T_1 of L̃ = I - 2P̃, then T_k+1 = 2 L̃ T_k - T_k-1.
        previous, current = signal, smooth(signal).mul_(-2).add_(signal)
        output = coefficients[0] * previous + coefficients[1] * current
        for coefficient in coefficients[2:]:
            following = smooth(current).mul_(-4).add_(current, alpha=2).sub_(previous)
            previous, current = current, following
            output.add_(current, alpha=float(coefficient))
        return output

    def score_histories(self, histories: sp.spmatrix | np.ndarray) -> torch.Tensor:
        """The full scores of interaction rows (b x n_items): how a user who was not in the
        training matrix (fold-in) is scored, without refitting."""
        rows = sp.csr_matrix(histories, dtype=np.float32)
        scores = self.linear_scores(rows)
        if self.alpha and self.factors.shape[1]:
            scores = scores + self.alpha * (self._project(rows) @ self.item_vectors().t())
        return scores

    def score_users(
        self, users: torch.Tensor, user_vectors: torch.Tensor, item_vectors: torch.Tensor
    ) -> torch.Tensor:
        index = users.cpu().numpy()
        known = index < self.n_users
        # Users appended to the vectors after fitting (fold-in) have no row of R: their
        # linear term is zero and their score is their vector's alone.
        histories = self.interactions()[np.where(known, index, 0)]
        if not known.all():
            histories = sp.diags(known.astype(np.float32)) @ histories
        scores = self.linear_scores(histories)
        if self.alpha and item_vectors.shape[1]:
            scores = scores + self.alpha * super().score_users(users, user_vectors, item_vectors)
        return scores
