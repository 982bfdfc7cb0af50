"""One sparse product of the LightGCN adjacency with a 64-column node table, the ways lgrec has
taken it: torch's CSR product (MKL), whole and in the tiles lgrec used before (8 MiB of the
table wide, four times as tall, ``addmm`` per tile), and the embedding-bag product lgrec uses
now (``lgrec.graph.adjacency._bag_product``), whole and in tiles *width* MiB of the table wide
and *height* times as tall (``TiledMatrix``; lgrec's are ``TILE_BYTES`` and ``BAND_HEIGHT``).
On the cost-curve logs, all in one process, the ways taking turns, median of several runs
after one warm-up.

    python bench/sparse_product.py                  # 1M, 5M, 20M and 40M drawn interactions
    python bench/sparse_product.py --sizes 5000000 --widths 32 --heights 1 2 --repeats 3 --no-write
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
    BAND_HEIGHT,
    TILE_BYTES,
    TiledMatrix,
    _bag_product,
    tiles_for,
    to_torch_sparse,
)

DIM = 64
PREVIOUS_BLOCK_BYTES, PREVIOUS_HEIGHT = 8 << 20, 4


class AddmmTiles:
    """The tiles lgrec multiplied by before the embedding-bag product (commit 512a28b): each
    tile a torch CSR matrix over all the rows of its band, added into the band with
    ``addmm_``. Kept here only as the baseline."""

    def __init__(self, matrix: torch.Tensor, tile_rows: int, tile_cols: int) -> None:
        csr = sp.csr_matrix((matrix.values().numpy(), matrix.col_indices().numpy(),
                             matrix.crow_indices().numpy()), shape=matrix.shape)
        self.shape = matrix.shape
        self.rows = []
        edges = list(range(0, matrix.shape[1], tile_cols)) + [matrix.shape[1]]
        for start in range(0, matrix.shape[0], tile_rows):
            band = csr[start:start + tile_rows].tocsc()
            tiles = [(left, right, to_torch_sparse(band[:, left:right]))
                     for left, right in zip(edges[:-1], edges[1:], strict=True)
                     if band[:, left:right].nnz]
            self.rows.append((start, min(start + tile_rows, matrix.shape[0]), tiles))
        self.n_tiles = sum(len(tiles) for _, _, tiles in self.rows)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.shape[0], x.shape[1], dtype=x.dtype)
        for start, stop, tiles in self.rows:
            for left, right, tile in tiles:
                out[start:stop].addmm_(tile, x[left:right])
        return out


def tile_name(width_mib: int, height: int) -> str:
    return f"embedding bag, tiles {width_mib} MiB x {height}"


def timings(n: int, widths: list[int], heights: list[int], repeats: int) -> dict[str, object]:
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
    tiled = {(w, h): TiledMatrix(adjacency, h * sides[w], sides[w])
             for w in widths for h in heights}
    ways: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], int | None]] = {
        "MKL CSR, whole": (lambda t: torch.sparse.mm(adjacency, t), None),
        f"MKL CSR, tiles 8 MiB x {PREVIOUS_HEIGHT} (lgrec before)": (previous.matmul,
                                                                     previous.n_tiles),
        "embedding bag, whole": (lambda t: _bag_product(adjacency.crow_indices(),
                                                        adjacency.col_indices(),
                                                        adjacency.values(), t), None),
    }
    for (w, h), matrix in tiled.items():
        ways[tile_name(w, h)] = (matrix.matmul, matrix.n_tiles)
    reference = torch.sparse.mm(adjacency, x)
    products = {name: way(x) for name, (way, _) in ways.items()}  # the warm-up run
    for name, product in products.items():
        # Tiles add each row's partial sums in another order: float32 rounding apart.
        torch.testing.assert_close(product, reference, rtol=1e-4, atol=1e-4, msg=name)
    for w in widths:
        by_height = [products[tile_name(w, h)] for h in heights]
        assert all(torch.equal(p, by_height[0]) for p in by_height), "heights differ"
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, (way, _) in ways.items():
            started = time.perf_counter()
            way(x)
            seconds[name].append(time.perf_counter() - started)
    used = tiles_for(adjacency, x)
    lgrec_way = ("embedding bag, whole" if used is None else
                 tile_name(TILE_BYTES >> 20, BAND_HEIGHT))
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
    parser.add_argument("--heights", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [timings(n, args.widths, args.heights, args.repeats) for n in args.sizes]
    baseline = "MKL CSR, whole"
    lines = [
        "## Sparse product: torch's CSR product against the embedding-bag product, whole and "
        "in tiles",
        "",
        f"Command: `python bench/sparse_product.py --sizes {' '.join(map(str, args.sizes))} "
        f"--widths {' '.join(map(str, args.widths))} "
        f"--heights {' '.join(map(str, args.heights))} --repeats {args.repeats} "
        f"--threads {args.threads}`  ",
        f"Machine: {machine()}, {args.threads} torch threads; median of {args.repeats} runs "
        "after one warm-up, the ways taking turns in one process",
        "",
        f"One product of the normalised adjacency of a cost-curve log with a {DIM}-column "
        "float32 node table (random). *MKL CSR* is `torch.sparse.mm`; its tiles are lgrec's "
        f"before the embedding-bag product ({PREVIOUS_BLOCK_BYTES >> 20} MiB of the table wide, "
        f"{PREVIOUS_HEIGHT} times as tall, every row of the band, `addmm_`). *Embedding bag* "
        "is `torch.nn.functional.embedding_bag` with the entries' values as per-sample weights; "
        "its tiles are `TiledMatrix`, *width* MiB of the table wide and *height* times as "
        "tall, only each tile's non-empty rows kept, added into the band with "
        "`index_add_`. Every way's product equals `torch.sparse.mm`'s to within 1e-4, and "
        "every height gives bitwise the same product. **Bold**: the way lgrec takes at that "
        f"size (tiles {TILE_BYTES >> 20} MiB x {BAND_HEIGHT} where the table is over "
        f"{TILE_BYTES >> 20} MiB).",
        "",
        "| edges | node table (MiB) | way | tiles | seconds | ns per stored entry | speed-up over "
        "MKL CSR, whole |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        for name, seconds in row["median"].items():
            label = f"**{name}**" if name == row["lgrec"] else name
            tiles = row["tiles"][name]
            lines.append(f"| {row['edges']:,} | {row['table_mib']:.0f} | {label} | "
                         f"{'' if tiles is None else tiles} | {seconds:.3f} | "
                         f"{seconds / row['entries'] * 1e9:.1f} | "
                         f"{row['median'][baseline] / seconds:.2f}x |")
    publish("sparse-product", lines, no_write=args.no_write)


if __name__ == "__main__":
    main()
