"""Training losses.

The pairwise losses in :data:`LOSSES` take ``positive`` of shape (batch,) and ``negative`` of
shape (batch, n_negatives). :func:`full_softmax_loss` scores a batch of users against every
item instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lgrec.train.precision import AUTO, resolve_precision


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Bayesian personalised ranking: ``-mean(log sigmoid(s_pos - s_neg))`` over all negatives."""
    return -F.logsigmoid(positive.unsqueeze(1) - negative).mean()


def infonce_loss(
    positive: torch.Tensor, negative: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """Sampled softmax (InfoNCE): cross-entropy of the positive among itself and the negatives,
    scores divided by ``temperature``."""
    logits = torch.cat([positive.unsqueeze(1), negative], dim=1) / temperature
    return torch.logsumexp(logits, dim=1).sub(logits[:, 0]).mean()


def bce_loss(positive: torch.Tensor, negative: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy: positives towards 1, sampled negatives towards 0."""
    return -(F.logsigmoid(positive).mean() + F.logsigmoid(-negative).mean())


def view_contrast_loss(
    anchor: torch.Tensor, view: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """InfoNCE between two views of the same nodes (SimGCL/XSimGCL): row ``i`` of ``anchor``
    must be closer (cosine / ``temperature``) to row ``i`` of ``view`` than to every other row."""
    a = F.normalize(anchor, dim=-1)
    b = F.normalize(view, dim=-1)
    logits = a @ b.t() / temperature
    return torch.logsumexp(logits, dim=1).sub(logits.diagonal()).mean()


class _RowGather(torch.autograd.Function):
    """``table[index]`` whose backward adds the gradient's rows with ``index_add_``."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(index)
        ctx.n_rows = table.shape[0]
        return table.index_select(0, index.reshape(-1)).reshape(*index.shape, table.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        width = grad.shape[-1]
        table_grad = grad.new_zeros(ctx.n_rows, width)
        table_grad.index_add_(0, index.reshape(-1), grad.reshape(-1, width))
        return table_grad, None


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 2-D ``table`` (rows of shape ``index.shape + (d,)``).

    On the CPU the gradient adds the rows with ``index_add_``, which runs row by row, instead
    of indexing's backward (``index_put_`` with ``accumulate``), which adds one element at a
    time: a table of 60,000 x 64 gathered at 18,375 random rows, 2.2 ms against 12.1 ms; of
    1.2M x 64 at 384,133 rows, 154 ms against 290 ms (2 threads, on a 2-core Xeon,
    zero-filling the table included; an exploratory run, not kept in bench/). Whole LightGCN
    steps are timed in section "row-gather" (``python bench/huge_pages.py --setting
    row-gather``). ``index_add_`` adds a row's contributions in the order of ``index``, so
    the gradient is the same on every run; indexing's backward, with several
    threads, adds them in an order that changes from run to run (so the same seed trained
    other weights). The sums may differ from indexing's in the last bits. Elsewhere (a GPU,
    no gradient, another shape) it is plain indexing.
    """
    if table.device.type != "cpu" or table.dim() != 2 or not table.requires_grad:
        return table[index]
    return _RowGather.apply(table, index)


def _sums_by(groups: torch.Tensor, members: torch.Tensor, table: torch.Tensor,
             n_groups: int) -> torch.Tensor:
    """Row ``g`` is the sum of ``table[members[j]]`` over the ``j`` with ``groups[j] == g``
    (zero where there are none): one pass of ``embedding_bag``, with no pairs x dim gather."""
    order = torch.argsort(groups, stable=True)
    offsets = torch.zeros(n_groups, dtype=torch.long, device=groups.device)
    offsets[1:] = torch.bincount(groups, minlength=n_groups).cumsum(0)[:-1]
    return F.embedding_bag(members[order], table, offsets, mode="sum")


PROBABILITY_BUFFER_BYTES = 256 << 20
"""Most bytes :class:`_FullSoftmax` keeps of a batch's scaled probabilities (in the product
dtype) for one product with the users; past it the users go in groups of blocks."""


class _FullSoftmax(torch.autograd.Function):
    """:func:`full_softmax_loss` over blocks of users, so that only a block x items score
    matrix exists at a time. When a gradient is wanted the forward pass also computes it, from
    the same scores (three matrix products; a separate backward pass would have to recompute
    the scores, a fourth); ``backward`` then only scales it.

    The items' gradient is one product over a whole group of blocks (the batch, unless its
    probabilities pass :data:`PROBABILITY_BUFFER_BYTES`) rather than one per block: each
    per-block product wrote, and added, a full items x dim table (the timings are in
    BENCHMARKS.md, section "softmax-step": ``python bench/softmax_step.py``).
    """

    @staticmethod
    def forward(ctx, users: torch.Tensor, items: torch.Tensor, rows: torch.Tensor,  # type: ignore[override]
                cols: torch.Tensor, temperature: float, block: int,
                product_dtype: torch.dtype | None, row_weights: torch.Tensor | None,
                normalizer_weight: float) -> torch.Tensor:
        product_dtype = product_dtype or users.dtype
        want_grad = any(ctx.needs_input_grad[:2])
        # A row's logsumexp counts once per positive (times the row's weight, if any).
        counts = torch.bincount(rows, minlength=users.shape[0]).to(users.dtype)
        if row_weights is not None:
            weights = row_weights.to(users.dtype)
            counts = counts * weights
        # The (weighted) number of pairs: the loss is their mean.
        total_weight = float(counts.sum()) if row_weights is not None else rows.shape[0]
        if normalizer_weight != 1.0:
            counts = counts * normalizer_weight
        scaled = users / temperature
        scaled_low, items_low = scaled.to(product_dtype), items.to(product_dtype)
        grad_users = torch.empty_like(scaled) if want_grad else None
        grad_items = torch.zeros_like(items) if want_grad else None
        row_bytes = items.shape[0] * items_low.element_size()
        group = max(1, PROBABILITY_BUFFER_BYTES // (block * row_bytes)) * block
        normalizers = users.new_zeros(())
        for group_start in range(0, users.shape[0], group):
            group_end = min(group_start + group, users.shape[0])
            buffer = (items_low.new_empty(group_end - group_start, items.shape[0])
                      if want_grad else None)
            for start in range(group_start, group_end, block):
                end = min(start + block, group_end)
                scores = (scaled_low[start:end] @ items_low.t()).to(users.dtype)
                # logsumexp with a single exp pass: the exponentials are reused as
                # probabilities.
                shift = scores.amax(dim=1, keepdim=True)
                probabilities = scores.sub_(shift).exp_()
                partition = probabilities.sum(dim=1)
                normalizers += (counts[start:end] * (partition.log() + shift[:, 0])).sum()
                if buffer is None:
                    continue
                # d/ds of count * logsumexp(s) is count * softmax(s).
                probabilities.mul_((counts[start:end] / partition)[:, None])
                probabilities_low = buffer[start - group_start:end - group_start]
                probabilities_low.copy_(probabilities)
                grad_users[start:end] = probabilities_low @ items_low
            if buffer is not None:
                grad_items.add_(buffer.t() @ scaled_low[group_start:group_end])
        # Gathering a dim-wide row per (user, item) pair, and scatter-adding it back, made two
        # pairs x dim temporaries a step; summed per user and per item instead.
        positive_items = _sums_by(rows, cols, items, users.shape[0])
        weighted_scaled = scaled
        if row_weights is not None:
            positive_items.mul_(weights[:, None])
            weighted_scaled = scaled * weights[:, None]
        positive = (scaled * positive_items).sum()
        if want_grad:
            grad_users.sub_(positive_items)
            grad_items.sub_(_sums_by(cols, rows, weighted_scaled, items.shape[0]))
            ctx.save_for_backward(grad_users, grad_items)
        ctx.n_positives, ctx.temperature = total_weight, temperature
        return (normalizers - positive) / total_weight

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_users, grad_items = ctx.saved_tensors
        weight = grad / ctx.n_positives
        return (grad_users * (weight / ctx.temperature), grad_items * weight,
                None, None, None, None, None, None, None)


PRODUCT_DTYPES: dict[str, torch.dtype | None] = {"full": None, "bfloat16": torch.bfloat16}
"""Dtypes :func:`full_softmax_loss` can take its score products in (``full``: the vectors'
own dtype)."""
PRECISIONS = (*PRODUCT_DTYPES, AUTO)
"""What ``precision`` may name: a product dtype, or ``auto`` for the device's fastest."""


def full_softmax_loss(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    temperature: float = 0.2,
    block: int | None = None,
    precision: str = "full",
    heads: int = 1,
    row_weights: torch.Tensor | None = None,
    normalizer_weight: float = 1.0,
) -> torch.Tensor:
    """Full softmax (multinomial likelihood) over every item: the mean over the positive pairs
    ``(rows[j], cols[j])`` of ``logsumexp_i(s_ri / t) - s_rc / t``, with ``s = U I^T``.
    With ``row_weights`` (one per row of the batch) it is the weighted mean, each pair of row
    ``r`` weighing ``row_weights[r]``.

    ``normalizer_weight`` (``g``) multiplies the logsumexp term: ``g * logsumexp_i(s_ri / t) -
    s_rc / t``. Below 1 the loss pushes down every item's score less than it pulls up the
    positives', so scores keep more of the items' popularity. This is the "reweight" form of
    the bilateral softmax loss (BSL; Wu et al., "BSL: Understanding and Improving Softmax Loss
    for Recommendation", ICDE 2024), which raises the partition of its sampled negatives to
    the power ``g``; here the partition is over every item, the positive included.

    ``user_vectors`` (b x d) are a batch of users, ``item_vectors`` (n x d) every item; row
    ``r`` of the batch has one term per positive. Unlike sampled softmax there is no sampling
    noise and no bias to correct, and the users' positives share one normaliser, so an epoch
    costs ``n_users x n_items`` scores however many interactions there are. ``block`` users
    are scored at a time (memory ``block x n_items``; default about 16 MiB of scores on a CPU,
    where a block that stays in cache is faster, 256 MiB on a GPU); when a gradient is wanted,
    up to :data:`PROBABILITY_BUFFER_BYTES` more hold the probabilities of several blocks.

    ``precision="bfloat16"`` takes the three users x items matrix products (scores, and the
    two gradient products) with bfloat16 inputs; sums, exponentials and the result stay in the
    vectors' dtype (``full``, the default, casts nothing). About twice as fast on CPUs with
    AVX512-BF16 and on GPUs, and slower on CPUs without (:mod:`lgrec.train.precision`); the
    gradient is then within about 2% (relative norm) of the float32 one. ``auto`` takes
    bfloat16 where the vectors' device has bfloat16 products, else ``full``.

    ``heads > 1`` splits the ``d`` dimensions into ``heads`` equal blocks and sums the loss of
    each block's own scores ``s_h = U_h I_h^T``: independently trained embedding sets, after
    the multi-embedding design that Guo et al. ("On the Embedding Collapse when Scaling up
    Recommendation Models", ICML 2024) propose for models whose quality stops growing with
    width. The whole score ``s`` is the sum of the blocks', so ranking uses the model as it
    is. With Adam and a per-coordinate L2 term the blocks do not interact at all: this is an
    ensemble of ``heads`` models of width ``d / heads`` trained on the same batches, whose
    summed scores are those of one ``d``-wide model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    precision = resolve_precision(precision, user_vectors.device)
    if heads < 1 or user_vectors.shape[1] % heads:
        raise ValueError(f"heads must be a positive divisor of the dimension "
                         f"({user_vectors.shape[1]}), got {heads}")
    if row_weights is not None and row_weights.shape != (user_vectors.shape[0],):
        raise ValueError(f"row_weights must have one weight per row of the batch "
                         f"({user_vectors.shape[0]}), got shape {tuple(row_weights.shape)}")
    if heads > 1:
        width = user_vectors.shape[1] // heads
        return sum(
            full_softmax_loss(user_vectors[:, h * width:(h + 1) * width].contiguous(),
                              item_vectors[:, h * width:(h + 1) * width].contiguous(),
                              rows, cols, temperature, block, precision, row_weights=row_weights,
                              normalizer_weight=normalizer_weight)
            for h in range(heads))
    if block is None:
        budget = 1 << 22 if item_vectors.device.type == "cpu" else 1 << 26
        block = max(1, budget // max(1, item_vectors.shape[0]))
    return _FullSoftmax.apply(user_vectors, item_vectors, rows, cols, temperature, block,
                              PRODUCT_DTYPES[precision], row_weights, float(normalizer_weight))


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "bpr": bpr_loss,
    "infonce": infonce_loss,
    "bce": bce_loss,
}
