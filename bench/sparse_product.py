"""One sparse product of the LightGCN adjacency with a 64-column node table, the ways lgrec has
taken it: torch's CSR product (MKL), whole and in the tiles lgrec used before (8 MiB of the
table wide, four times as tall, ``addmm`` per tile); the embedding-bag product
(``lgrec.graph.adjacency._bag_product``) whole, and in the tiles lgrec used before the two-pass
product (32 MiB of the table wide and as tall, each tile's partial sums added into its band
with ``index_add_``); and lgrec's ``TiledMatrix`` now, tiles at most *width* MiB of the table
wide, cut apart on the user and item sides, partial sums then row sums in two embedding-bag
passes (lgrec's width is ``TILE_BYTES``). On the cost-curve logs, all in one process, the ways
taking turns, median of several runs after one warm-up.

    python bench/sparse_product.py                  # 1M, 5M, 20M and 40M drawn interactions
    python bench/sparse_product.py --sizes 5000000 --widths 32 --repeats 3 --no-write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# lgrec first: it sets OMP_WAIT_POLICY and THP_MEM_ALLOC_ENABLE before torch loads.
import lgrec  # noqa: F401  # isort: skip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine, publish  # noqa: E402
from cost_curves import log_path, write_log  # noqa: E402

from lgrec.graph import Graph  # noqa: E402
from lgrec.graph.adjacency import (  # noqa: E402
    TILE_BYTES,
    TiledMatrix,
    _bag_product,
    tiles_for,
    to_torch_sparse,
)

DIM = 64
PREVIOUS_BLOCK_BYTES, PREVIOUS_HEIGHT = 8 << 20, 4


def fixed_tiles(matrix: torch.Tensor, tile_rows: int,
                tile_cols: int) -> list[tuple[int, int, list[tuple[int, int, sp.csr_matrix]]]]:
    """``matrix`` cut at fixed columns every ``tile_cols`` and rows every ``tile_rows``, as
    lgrec's tiles were before the two-pass product: per band ``(start, stop, tiles)``, each
    non-empty tile ``(left, right, csr)``."""
    csr = sp.csr_matrix((matrix.values().numpy(), matrix.col_indices().numpy(),
                         matrix.crow_indices().numpy()), shape=matrix.shape)
    edges = list(range(0, matrix.shape[1], tile_cols)) + [matrix.shape[1]]
    bands = []
    for start in range(0, matrix.shape[0], tile_rows):
        band = csr[start:start + tile_rows].tocsc()
        tiles = [(left, right, band[:, left:right].tocsr())
                 for left, right in zip(edges[:-1], edges[1:], strict=True)]
        bands.append((start, min(start + tile_rows, matrix.shape[0]),
                      [tile for tile in tiles if tile[2].nnz]))
    return bands


class AddmmTiles:
    """The tiles lgrec multiplied by before the embedding-bag product (commit 512a28b): each
    tile a torch CSR matrix over all the rows of its band, added into the band with
    ``addmm_``. Kept here only as the baseline."""

    def __init__(self, matrix: torch.Tensor, tile_rows: int, tile_cols: int) -> None:
        self.shape = matrix.shape
        self.rows = [(start, stop, [(left, right, to_torch_sparse(tile))
                                    for left, right, tile in tiles])
                     for start, stop, tiles in fixed_tiles(matrix, tile_rows, tile_cols)]
        self.n_tiles = sum(len(tiles) for _, _, tiles in self.rows)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.shape[0], x.shape[1], dtype=x.dtype)
        for start, stop, tiles in self.rows:
            for left, right, tile in tiles:
                out[start:stop].addmm_(tile, x[left:right])
        return out


class IndexAddTiles:
    """The tiles lgrec multiplied by before the two-pass product: 32 MiB of the table wide and
    as tall, cut at fixed columns; each tile's non-empty rows summed by the embedding bag and
    added into the band with ``index_add_``. Kept here only as a baseline."""

    def __init__(self, matrix: torch.Tensor, side: int) -> None:
        self.shape = matrix.shape
        self.rows = [(start, stop, [_compact(left, right, tile) for left, right, tile in tiles])
                     for start, stop, tiles in fixed_tiles(matrix, side, side)]
        self.n_tiles = sum(len(tiles) for _, _, tiles in self.rows)
        self.n_partial_sums = sum(len(t[2]) for _, _, tiles in self.rows for t in tiles)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.shape[0], x.shape[1], dtype=x.dtype)
        for start, stop, tiles in self.rows:
            band = out[start:stop]
            for left, right, rows, indptr, indices, values in tiles:
                band.index_add_(0, rows, _bag_product(indptr, indices, values, x[left:right]))
        return out


def _compact(left: int, right: int, tile: sp.csr_matrix) -> tuple:
    """A tile's non-empty rows and their CSR arrays, for :class:`IndexAddTiles`."""
    rows = np.flatnonzero(np.diff(tile.indptr))
    return (left, right, torch.from_numpy(rows.astype(np.int64)),
            torch.from_numpy(np.append(tile.indptr[rows], tile.nnz).astype(np.int32)),
            torch.from_numpy(tile.indices.astype(np.int32)),
            torch.from_numpy(tile.data.astype(np.float32)))


INDEX_ADD_WAY = "embedding bag, tiles 32 MiB x 1, `index_add_` (lgrec before)"


def tile_name(width_mib: int) -> str:
    return f"embedding bag, two-pass tiles {width_mib} MiB"


def timings(n: int, widths: list[int], repeats: int) -> dict[str, object]:
    if not log_path(n).exists():
        write_log(n)
    with np.load(log_path(n)) as data:
        users, items = data["users"], data["items"]
        n_users, n_items = (int(v) for v in data["shape"])
    graph = Graph.from_interactions(users, items, n_users, n_items)
    adjacency = graph.adjacency
    x = torch.randn(graph.n_nodes, DIM, generator=torch.Generator().manual_seed(0))
    previous_side = PREVIOUS_BLOCK_BYTES // (DIM * x.element_size())
    previous = AddmmTiles(adjacency, PREVIOUS_HEIGHT * previous_side, previous_side)
    sides = {w: (w << 20) // (DIM * x.element_size()) for w in widths}
    index_add = IndexAddTiles(adjacency, (32 << 20) // (DIM * x.element_size()))
    tiled = {w: TiledMatrix(adjacency, sides[w]) for w in widths}
    ways: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[int, int] | None]] = {
        "MKL CSR, whole": (lambda t: torch.sparse.mm(adjacency, t), None),
        f"MKL CSR, tiles 8 MiB x {PREVIOUS_HEIGHT} (lgrec before)": (previous.matmul,
                                                                     (previous.n_tiles, 0)),
        "embedding bag, whole": (lambda t: _bag_product(adjacency.crow_indices(),
                                                        adjacency.col_indices(),
                                                        adjacency.values(), t), None),
        INDEX_ADD_WAY: (index_add.matmul, (index_add.n_tiles, index_add.n_partial_sums)),
    }
    for w, matrix in tiled.items():
        ways[tile_name(w)] = (matrix.matmul, (matrix.n_tiles, matrix.n_partial_sums))
    reference = torch.sparse.mm(adjacency, x)
    products = {name: way(x) for name, (way, _) in ways.items()}  # the warm-up run
    for name, product in products.items():
        # Tiles add each row's partial sums in another order: float32 rounding apart.
        torch.testing.assert_close(product, reference, rtol=1e-4, atol=1e-4, msg=name)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, (way, _) in ways.items():
            started = time.perf_counter()
            way(x)
            seconds[name].append(time.perf_counter() - started)
    used = tiles_for(adjacency, x)
    lgrec_way = "embedding bag, whole" if used is None else tile_name(TILE_BYTES >> 20)
    return {"edges": graph.n_edges, "entries": int(adjacency.values().numel()),
            "table_mib": graph.n_nodes * DIM * 4 / 2**20, "lgrec": lgrec_way,
            "tiles": {name: count for name, (_, count) in ways.items()},
            "median": {name: statistics.median(s) for name, s in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)),
                        default=[1_000_000, 5_000_000, 20_000_000, 40_000_000],
                        help="Drawn interactions of the cost-curve logs (made if missing).")
    parser.add_argument("--widths", nargs="+", type=int, default=[16, 32],
                        help="Tile widths in MiB of the node table.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [timings(n, args.widths, args.repeats) for n in args.sizes]
    baseline = "MKL CSR, whole"
    lines = [
        "## Sparse product: torch's CSR product against the embedding-bag product, whole and "
        "in tiles",
        "",
        f"Command: `python bench/sparse_product.py --sizes {' '.join(map(str, args.sizes))} "
        f"--widths {' '.join(map(str, args.widths))} --repeats {args.repeats} "
        f"--threads {args.threads}`  ",
        f"Machine: {machine()}, {args.threads} torch threads; median of {args.repeats} runs "
        "after one warm-up, the ways taking turns in one process",
        "",
        f"One product of the normalised adjacency of a cost-curve log with a {DIM}-column "
        "float32 node table (random). *MKL CSR* is `torch.sparse.mm`; its tiles are lgrec's "
        f"before the embedding-bag product ({PREVIOUS_BLOCK_BYTES >> 20} MiB of the table wide, "
        f"{PREVIOUS_HEIGHT} times as tall, every row of the band, `addmm_`). *Embedding bag* "
        "is `torch.nn.functional.embedding_bag` with the entries' values as per-sample weights. "
        "Its tiles *32 MiB x 1, `index_add_`* are lgrec's before the two-pass product: 32 MiB "
        "of the table wide and as tall, cut at fixed columns, each tile's non-empty rows "
        "summed and added into the band with `index_add_`. *Two-pass tiles* are lgrec's "
        "`TiledMatrix`: column slices of at most *width* MiB of the table, cut apart on the "
        "user and item sides, one embedding-bag pass for each row's partial sum in each slice, "
        "a second for each row's sum of them. Every way's product equals `torch.sparse.mm`'s "
        "to within 1e-4. *Partial sums*: the (row, tile) pairs holding entries, one "
        "table-wide row of partial sums each. **Bold**: the way lgrec takes at that size "
        f"(two-pass tiles {TILE_BYTES >> 20} MiB where the table is over "
        f"{TILE_BYTES >> 20} MiB).",
        "",
        "| edges | node table (MiB) | way | tiles | partial sums | seconds | ns per stored "
        "entry | speed-up over MKL CSR, whole |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for name, seconds in row["median"].items():
            label = f"**{name}**" if name == row["lgrec"] else name
            counts = row["tiles"][name]
            tiles, partial = ("", "") if counts is None else (
                f"{counts[0]}", f"{counts[1]:,}" if counts[1] else "")
            lines.append(f"| {row['edges']:,} | {row['table_mib']:.0f} | {label} | "
                         f"{tiles} | {partial} | {seconds:.3f} | "
                         f"{seconds / row['entries'] * 1e9:.1f} | "
                         f"{row['median'][baseline] / seconds:.2f}x |")
    publish("sparse-product", lines, no_write=args.no_write)


if __name__ == "__main__":
    main()
