"""Graph build time and peak memory on a synthetic interaction log.

Each size runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
Item popularity follows a power law (Zipf exponent 1.1 over ranks), users are uniform.

    python bench/graph_build.py                      # 10M interactions, 1M users, 200k items
    python bench/graph_build.py --sizes 1e6 5e6 2e7  # other sizes, users/items scaled along
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import load_build_kernels, machine, write_section  # noqa: E402


def synthetic_log(n_interactions: int, n_users: int, n_items: int, seed: int = 0):
    """Users uniform, items drawn with probability proportional to rank^-1.1."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_interactions, dtype=np.int64)
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -1.1
    cdf = np.cumsum(weights / weights.sum())
    items = np.searchsorted(cdf, rng.random(n_interactions)).astype(np.int64)
    return users, np.minimum(items, n_items - 1)


def measure(n_interactions: int, n_users: int, n_items: int) -> dict:
    """Runs inside the child process."""
    from lgrec.graph import Graph

    users, items = synthetic_log(n_interactions, n_users, n_items)
    kernel_load = load_build_kernels(users, items, n_users, n_items)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    graph = Graph.from_interactions(users, items, n_users, n_items)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "interactions": n_interactions,
        "users": n_users,
        "items": n_items,
        "edges": graph.n_edges,
        "build_s": seconds,
        "kernel_load_s": kernel_load,
        "peak_gib": peak,
        "log_gib": before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e7])
    parser.add_argument("--users-per-interaction", type=float, default=0.1)
    parser.add_argument("--items-per-interaction", type=float, default=0.02)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    rows = []
    for size in args.sizes:
        n = int(size)
        n_users, n_items = int(n * args.users_per_interaction), int(n * args.items_per_interaction)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), str(n_users), str(n_items)],
            capture_output=True, text=True, check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(row, flush=True)
    lines = [
        "## Graph build on synthetic logs",
        "",
        f"Command: `python bench/graph_build.py --sizes {' '.join(f'{s:g}' for s in args.sizes)}`",
        f"Machine: {machine()}",
        "",
        "Power-law item popularity; the build covers the interaction matrix, symmetric",
        "normalisation and the bipartite adjacency as a torch sparse CSR tensor. Peak memory is",
        "the whole process's maximum resident set, the synthetic log itself included. Each",
        "size runs in a fresh process; its first build loads the build's compiled kernels",
        "(`lgrec.graph.kernels`; compiled once after an install, then cached on disk), timed",
        "apart on a two-edge graph before the build of the log.",
        "",
        "| interactions | users | items | distinct edges | build time (s) | kernel load (s) "
        "| peak memory (GiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['interactions']:,} | {r['users']:,} | {r['items']:,} | {r['edges']:,} "
                     f"| {r['build_s']:.2f} | {r['kernel_load_s']:.2f} | {r['peak_gib']:.2f} |")
    if not args.no_write:
        write_section("graph-build", "\n".join(lines))


if __name__ == "__main__":
    main()
