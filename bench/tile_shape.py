"""Band height of the tiled sparse product (``lgrec.graph.adjacency.BAND_HEIGHT``): one product
of the LightGCN adjacency with a 64-column node table, on the cost-curve logs, for several
heights, all in one process, heights taking turns, median of several runs.

A tile is ``CACHE_BLOCK_BYTES`` of the node table wide (32,768 rows at 64 float32 columns) and
``height`` times that tall. The column cuts fix the sums, so every height gives bitwise the
same product; only the time differs.

    python bench/tile_shape.py                      # 5M, 20M and 40M drawn interactions
    python bench/tile_shape.py --sizes 5000000 --heights 2 4 --repeats 3 --no-write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# lgrec first: it sets OMP_WAIT_POLICY and THP_MEM_ALLOC_ENABLE before torch loads.
import lgrec  # noqa: F401  # isort: skip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine, publish  # noqa: E402
from cost_curves import log_path, write_log  # noqa: E402

from lgrec.graph import Graph  # noqa: E402
from lgrec.graph.adjacency import BAND_HEIGHT, CACHE_BLOCK_BYTES, TiledMatrix  # noqa: E402

DIM = 64


def timings(n: int, heights: list[int], repeats: int) -> dict[str, object]:
    if not log_path(n).exists():
        write_log(n)
    with np.load(log_path(n)) as data:
        users, items = data["users"], data["items"]
        n_users, n_items = (int(v) for v in data["shape"])
    graph = Graph.from_interactions(users, items, n_users, n_items)
    x = torch.randn(graph.n_nodes, DIM, generator=torch.Generator().manual_seed(0))
    side = CACHE_BLOCK_BYTES // (DIM * x.element_size())
    tiled = {h: TiledMatrix(graph.adjacency, h * side, side) for h in heights}
    products = {h: tiled[h].matmul(x) for h in heights}  # the warm-up run
    reference = products[heights[0]]
    assert all(torch.equal(p, reference) for p in products.values()), "heights differ"
    seconds: dict[int, list[float]] = {h: [] for h in heights}
    for _ in range(repeats):
        for h in heights:
            started = time.perf_counter()
            tiled[h].matmul(x)
            seconds[h].append(time.perf_counter() - started)
    return {"edges": graph.n_edges, "entries": int(graph.adjacency.values().numel()),
            "tiles": {h: tiled[h].n_tiles for h in heights},
            "median": {h: statistics.median(s) for h, s in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)),
                        default=[5_000_000, 20_000_000, 40_000_000],
                        help="Drawn interactions of the cost-curve logs (made if missing).")
    parser.add_argument("--heights", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [timings(n, args.heights, args.repeats) for n in args.sizes]
    base = args.heights[0]
    lines = [
        "## Tiled sparse product: band height",
        "",
        f"Command: `python bench/tile_shape.py --sizes {' '.join(map(str, args.sizes))} "
        f"--heights {' '.join(map(str, args.heights))} --repeats {args.repeats} "
        f"--threads {args.threads}`  ",
        f"Machine: {machine()}, {args.threads} torch threads; median of {args.repeats} runs "
        "after one warm-up, heights taking turns in one process",
        "",
        f"One product of the normalised adjacency of a cost-curve log with a {DIM}-column "
        "float32 node table, through tiles 32,768 table rows wide and *height* times that "
        f"tall; every height gives bitwise the same product. lgrec uses height {BAND_HEIGHT}.",
        "",
        "| edges | height | tiles | seconds | ns per stored entry | speed-up over height "
        f"{base} |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for h in args.heights:
            seconds = row["median"][h]
            lines.append(f"| {row['edges']:,} | {h} | {row['tiles'][h]} | {seconds:.3f} | "
                         f"{seconds / row['entries'] * 1e9:.1f} | "
                         f"{row['median'][base] / seconds:.2f}x |")
    publish("tile-shape", lines, no_write=args.no_write)


if __name__ == "__main__":
    main()
