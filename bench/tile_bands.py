"""Three propagation layers through tiles of each band height, on the cost-curve graphs.

The tiles of :class:`lgrec.graph.adjacency.TiledMatrix` are ``CACHE_BLOCK_BYTES`` of the node
table wide and a band height times that tall; :func:`lgrec.graph.adjacency.band_height` picks
the first of ``BAND_HEIGHTS`` whose tiles average ``MIN_TILE_NONZEROS``. This script times
every height on the same graph in one process, the heights taking turns (order reversed every
repeat), so that the table shows what the choice gains or loses at each size.

    python bench/tile_bands.py --sizes 5000000 10000000 20000000
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
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
from common import ROOT, git_commit, machine, write_section  # noqa: E402
from cost_curves import log_path, write_log  # noqa: E402

from lgrec.graph import Graph, adjacency  # noqa: E402

SECTION = "tile-bands"
RESULTS = ROOT / "bench" / "results" / "tile_bands.json"


def measure_size(n: int, repeats: int, seed: int) -> dict:
    if not log_path(n).exists():
        write_log(n, seed)
    with np.load(log_path(n)) as data:
        users, items = data["users"], data["items"]
        n_users, n_items = (int(v) for v in data["shape"])
    graph = Graph.from_interactions(users, items, n_users, n_items)
    del users, items
    x = torch.randn(graph.n_nodes, 64, generator=torch.Generator().manual_seed(seed))
    side = max(1, adjacency.CACHE_BLOCK_BYTES // (x.shape[1] * x.element_size()))
    tiled = {h: adjacency.TiledMatrix(graph.adjacency, h * side, side)
             for h in adjacency.BAND_HEIGHTS}

    def three_layers(matrix: adjacency.TiledMatrix) -> float:
        started = time.perf_counter()
        y = x
        for _ in range(3):
            y = matrix.matmul(y)
        return time.perf_counter() - started

    for matrix in tiled.values():
        three_layers(matrix)  # warm-up
    times: dict[int, list[float]] = {h: [] for h in tiled}
    for repeat in range(repeats):
        for h in (list(tiled) if repeat % 2 == 0 else list(tiled)[::-1]):
            times[h].append(three_layers(tiled[h]))
    nnz = graph.adjacency._nnz()
    return {"size": n, "edges": graph.n_edges, "tile_cols": side,
            "chosen": adjacency.band_height(graph.adjacency, side),
            "heights": {str(h): {"tiles": tiled[h].n_tiles, "mean_tile_nonzeros":
                                 nnz / tiled[h].n_tiles, "seconds": statistics.median(times[h]),
                                 "all_seconds": times[h]} for h in tiled}}


def section(saved: dict) -> str:
    heights = list(saved["rows"][0]["heights"])
    lines = [
        "## Tile band heights for the propagation past the cache",
        "",
        f"Command: `{saved['command']}`  ",
        f"Date: {saved['date']}, code at commit {saved['commit']}  ",
        f"Machine: {saved['machine']}",
        "",
        "Three layers of `TiledMatrix.matmul` (dimension 64, random table) over the cost-curve "
        "graphs, tiles 8 MiB of the node table wide and each band height times that tall; the "
        f"median of {saved['repeats']} repeats, the heights taking turns in one process. "
        "*chosen* is what `band_height` picks (the first height whose tiles average "
        f"{saved['min_tile_nonzeros']:,} non-zeros).",
        "",
        "| edges | " + " | ".join(f"band x{h}: tiles, non-zeros each, time (s)" for h in heights)
        + " | chosen |",
        "|---:|" + "---:|" * len(heights) + "---:|",
    ]
    for row in saved["rows"]:
        cells = [f"{v['tiles']}, {v['mean_tile_nonzeros'] / 1e3:.0f}k, {v['seconds']:.3f}"
                 for v in row["heights"].values()]
        lines.append(f"| {row['edges']:,} | " + " | ".join(cells) + f" | x{row['chosen']} |")
    lines += ["", f"Rows: `{RESULTS.relative_to(ROOT)}` (`--from-json` rewrites this section)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[5_000_000, 10_000_000, 20_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-json", action="store_true")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(RESULTS.read_text())
    else:
        torch.set_num_threads(args.threads)
        rows = []
        for n in args.sizes:
            rows.append(measure_size(n, args.repeats, args.seed))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "heights"}),
                  {h: round(v["seconds"], 3) for h, v in rows[-1]["heights"].items()},
                  file=sys.stderr, flush=True)
        saved = {"command": "python bench/tile_bands.py " + shlex.join(sys.argv[1:]),
                 "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M+00:00"),
                 "machine": machine(), "commit": git_commit(), "repeats": args.repeats,
                 "min_tile_nonzeros": adjacency.MIN_TILE_NONZEROS, "rows": rows}
        RESULTS.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"wrote {write_section(SECTION, section(saved))}")


if __name__ == "__main__":
    main()
