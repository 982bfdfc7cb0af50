"""Time of one full-softmax loss step (forward and backward) and one LightGCN propagation at
Gowalla's shape, in the ways lgrec can take them.

The loss: a batch of 2,048 users scored against 40,981 items (dimensions 128 and 512), 27
positives a user; the first two-pass form (scores recomputed in the backward pass: four users x
items products per block), the fused form (gradient taken in the forward pass: three products),
the fused form with bfloat16 products, and, as a baseline, that form as it was before commit
095a8a1 (an items x dim product added per block, the positive pairs gathered one dim-wide row
each). The propagation: three layers over a random bipartite graph with Gowalla's node and
edge counts, by torch's CSR product (MKL) over the whole table, by the same product in the
column blocks lgrec used before the embedding-bag product, by the embedding-bag product over
the whole table, and by lgrec's ``propagate`` (embedding-bag products, in
``lgrec.graph.column_ranges`` where the table is wide). Median of several runs, all in one
process.

    python bench/softmax_step.py            # writes the section "softmax-step" of BENCHMARKS.md
    python bench/softmax_step.py --section softmax-step-no-bf16   # a CPU without bfloat16 products
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# lgrec first: it sets OMP_WAIT_POLICY and THP_MEM_ALLOC_ENABLE before torch loads.
import lgrec  # noqa: F401  # isort: skip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine, publish  # noqa: E402

from lgrec.graph import Graph, column_ranges, sparse_product  # noqa: E402
from lgrec.models.lightgcn import propagate  # noqa: E402
from lgrec.train.losses import _FullSoftmax, full_softmax_loss  # noqa: E402
from lgrec.train.precision import native_bfloat16, resolve_precision  # noqa: E402

USERS, ITEMS, POSITIVES = 2048, 40981, 27
GRAPH_USERS, GRAPH_EDGES = 29858, 810128


class _TwoPassSoftmax(torch.autograd.Function):
    """The full softmax as lgrec computed it before: logsumexp forward, scores recomputed in
    the backward pass (kept here only as the baseline)."""

    @staticmethod
    def forward(ctx, users, items, rows, cols, temperature, block):  # type: ignore[override]
        counts = torch.bincount(rows, minlength=users.shape[0]).to(users.dtype)
        scaled = users / temperature
        log_normalizer = torch.empty(users.shape[0], dtype=users.dtype)
        for start in range(0, users.shape[0], block):
            end = start + block
            log_normalizer[start:end] = torch.logsumexp(scaled[start:end] @ items.t(), dim=1)
        positive = (scaled[rows] * items[cols]).sum()
        ctx.save_for_backward(scaled, items, rows, cols, counts, log_normalizer)
        ctx.temperature, ctx.block = temperature, block
        return ((counts * log_normalizer).sum() - positive) / rows.shape[0]

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        scaled, items, rows, cols, counts, log_normalizer = ctx.saved_tensors
        weight = grad / rows.shape[0]
        grad_users = torch.empty_like(scaled)
        grad_items = torch.zeros_like(items)
        for start in range(0, scaled.shape[0], ctx.block):
            end = start + ctx.block
            probabilities = torch.exp(scaled[start:end] @ items.t() - log_normalizer[start:end, None])
            probabilities *= (counts[start:end] * weight)[:, None]
            grad_users[start:end] = probabilities @ items
            grad_items.addmm_(probabilities.t(), scaled[start:end])
        grad_users.index_add_(0, rows, items[cols] * -weight)
        grad_items.index_add_(0, cols, scaled[rows] * -weight)
        return grad_users / ctx.temperature, grad_items, None, None, None, None


class _PerBlockFusedSoftmax(_FullSoftmax):
    """The fused full softmax as lgrec computed it before its items' gradient became one
    product per batch (kept here only as the baseline): the gradient taken in the forward
    pass, one items x dim product added per block, and the positive pairs gathered one row
    each. The backward pass, which only scales that gradient, is lgrec's own."""

    @staticmethod
    def forward(ctx, users, items, rows, cols, temperature, block, product_dtype):  # type: ignore[override]
        counts = torch.bincount(rows, minlength=users.shape[0]).to(users.dtype)
        scaled = users / temperature
        scaled_low, items_low = scaled.to(product_dtype), items.to(product_dtype)
        grad_users = torch.empty_like(scaled)
        grad_items = torch.zeros_like(items)
        normalizers = users.new_zeros(())
        for start in range(0, users.shape[0], block):
            end = start + block
            scores = (scaled_low[start:end] @ items_low.t()).to(users.dtype)
            shift = scores.amax(dim=1, keepdim=True)
            probabilities = scores.sub_(shift).exp_()
            partition = probabilities.sum(dim=1)
            normalizers += (counts[start:end] * (partition.log() + shift[:, 0])).sum()
            probabilities.mul_((counts[start:end] / partition)[:, None])
            probabilities_low = probabilities.to(product_dtype)
            grad_users[start:end] = probabilities_low @ items_low
            grad_items.add_(probabilities_low.t() @ scaled_low[start:end])
        positive = (scaled[rows] * items[cols]).sum()
        grad_users.index_add_(0, rows, -items[cols])
        grad_items.index_add_(0, cols, -scaled[rows])
        ctx.save_for_backward(grad_users, grad_items)
        ctx.n_positives, ctx.temperature = rows.shape[0], temperature
        return (normalizers - positive) / rows.shape[0]


def _whole_table(adjacency: torch.Tensor, x: torch.Tensor, layers: int,
                 product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = torch.sparse.mm,
                 ) -> torch.Tensor:
    """The mean of ``x, Âx, ..., Â^K x`` by plain products over the whole table (the
    baseline of :func:`propagate`'s column blocks); MKL's CSR product unless ``product``."""
    total = x.clone()
    for _ in range(layers):
        x = product(adjacency, x)
        total.add_(x)
    return total.div_(layers + 1)


def _previous_blocks(adjacency: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    """:func:`_whole_table` in the column blocks lgrec cut before the embedding-bag product
    (commit 512a28b: blocks of about 8 MiB, at least 16 columns, none over 16 MiB)."""
    block_bytes, row_bytes = 8 << 20, x.shape[1] * x.element_size()
    n_blocks = min(-(-x.shape[0] * row_bytes // block_bytes), x.shape[1] // 16)
    if n_blocks <= 1 or x.shape[0] * row_bytes / n_blocks > 2 * block_bytes:
        return _whole_table(adjacency, x, layers)
    return torch.cat([_whole_table(adjacency, block.contiguous(), layers)
                      for block in torch.tensor_split(x, n_blocks, dim=1)], dim=1)


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


LOSS_DIMS = (128, 512)
PROPAGATION_DIMS = (64, 128, 256, 512)


def loss_timings(dim: int, repeats: int) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    users = (0.3 * torch.randn(USERS, dim, generator=generator)).requires_grad_()
    items = (0.3 * torch.randn(ITEMS, dim, generator=generator)).requires_grad_()
    rows = torch.randint(0, USERS, (USERS * POSITIVES,), generator=generator)
    cols = torch.randint(0, ITEMS, (USERS * POSITIVES,), generator=generator)
    block = max(1, (1 << 22) // ITEMS)

    def run(loss_of: Callable[[], torch.Tensor]) -> Callable[[], None]:
        return lambda: torch.autograd.grad(loss_of(), [users, items])

    return {
        "two passes, float32": median_seconds(
            run(lambda: _TwoPassSoftmax.apply(users, items, rows, cols, 0.2, block)), repeats),
        "fused, float32": median_seconds(
            run(lambda: full_softmax_loss(users, items, rows, cols, 0.2)), repeats),
        "fused, bfloat16 products, per-block items' gradient (before)": median_seconds(
            run(lambda: _PerBlockFusedSoftmax.apply(users, items, rows, cols, 0.2, block,
                                                    torch.bfloat16)), repeats),
        "fused, bfloat16 products": median_seconds(
            run(lambda: full_softmax_loss(users, items, rows, cols, 0.2, precision="bfloat16")),
            repeats),
    }


def propagation_timings(repeats: int) -> dict[tuple[int, str], float]:
    """Median seconds of three layers, by (dimension, way)."""
    rng = np.random.default_rng(0)
    n_items = ITEMS
    users = rng.integers(0, GRAPH_USERS, GRAPH_EDGES)
    items = rng.integers(0, n_items, GRAPH_EDGES)
    graph = Graph.from_interactions(users, items, GRAPH_USERS, n_items)
    out = {}
    for dim in PROPAGATION_DIMS:
        x = torch.randn(graph.n_nodes, dim)
        out[(dim, "MKL CSR, whole table")] = median_seconds(
            lambda x=x: _whole_table(graph.adjacency, x, 3), repeats)
        out[(dim, "MKL CSR, column blocks (lgrec before)")] = median_seconds(
            lambda x=x: _previous_blocks(graph.adjacency, x, 3), repeats)
        out[(dim, "embedding bag, whole table")] = median_seconds(
            lambda x=x: _whole_table(graph.adjacency, x, 3, product=sparse_product), repeats)
        blocks = len(column_ranges(x))
        way = f"{blocks} column blocks" if blocks > 1 else "whole table"
        out[(dim, f"lgrec: embedding bag, {way}")] = median_seconds(
            lambda x=x: propagate(graph.adjacency, x, 3), repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    parser.add_argument("--section", default="softmax-step",
                        help="BENCHMARKS.md section to write (another machine's figures go to "
                             "their own section, e.g. softmax-step-no-bf16).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loss = {dim: loss_timings(dim, args.repeats) for dim in LOSS_DIMS}
    propagation = propagation_timings(args.repeats)
    lines = [
        "## Full-softmax step and propagation at Gowalla's shape"
        f"{'' if native_bfloat16('cpu') else ', on a CPU without bfloat16 products'}",
        "",
        f"Command: `python bench/softmax_step.py --repeats {args.repeats} --threads {args.threads}"
        f"{'' if args.section == 'softmax-step' else ' --section ' + args.section}`  ",
        f"Machine: {machine()}, {args.threads} torch threads; median of {args.repeats} runs "
        "after one warm-up, all in one process; `softmax_precision = \"auto\"` takes "
        f"{resolve_precision('auto', 'cpu')} here",
        "",
        f"Loss, forward and backward: {USERS:,} users x {ITEMS:,} items, "
        f"{POSITIVES} positives a user (`full_softmax_loss`, default block).",
        "",
        "| dim | form | seconds | speed-up over two passes |",
        "|---:|---|---:|---:|",
        *[f"| {dim} | {name} | {seconds:.3f} | {by_form['two passes, float32'] / seconds:.2f}x |"
          for dim, by_form in loss.items() for name, seconds in by_form.items()],
        "",
        f"Propagation, 3 layers, no gradient: random bipartite graph with {GRAPH_USERS:,} users, "
        f"{ITEMS:,} items and {GRAPH_EDGES:,} interactions (Gowalla's counts).",
        "",
        "| dim | way | seconds | speed-up over MKL CSR, whole table |",
        "|---:|---|---:|---:|",
    ]
    for (dim, way), seconds in propagation.items():
        whole = propagation[(dim, "MKL CSR, whole table")]
        lines.append(f"| {dim} | {way} | {seconds:.3f} | {whole / seconds:.2f}x |")
    publish(args.section, lines, no_write=args.no_write)


if __name__ == "__main__":
    main()
