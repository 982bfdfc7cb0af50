"""Cost curves: how lgrec's time and memory grow with the number of interactions (edges).

For each size a synthetic interaction log is drawn (users = n/20, items = n/100, power-law
popularity on both sides, duplicates removed) and every phase runs in its own fresh process,
so that each phase's peak resident memory (``ru_maxrss``) is its own:

* ``build``: :meth:`lgrec.graph.Graph.from_interactions`;
* ``lightgcn-epoch``: two LightGCN epochs (dim 64, 3 layers, BPR) with :class:`Trainer`, each
  a fixed 50 gradient steps (batch size = edges / 50): the first with the fit's set-up, then
  the next one alone;
* ``lightgcn-eval``: full-ranking evaluation of 10,000 users (one held-out item each);
* ``graph-filter``: ``GraphFilter(rank=256, alpha=0.3).fit_closed_form`` and the same evaluation.

The section ``cost-curves`` of BENCHMARKS.md gets the table, the fitted growth exponents and
the log-log plot ``bench/cost_curves.png``; the raw rows go to ``bench/results/cost_curves.json``.

    python bench/cost_curves.py                          # 1M, 5M and 20M interactions
    python bench/cost_curves.py --sizes 100000 300000 --out-section cost-curves-test \\
        --plot /tmp/cost_curves.png --json /tmp/cost_curves.json      # a quick smoke run
    python bench/cost_curves.py --from-json bench/results/cost_curves.json  # section from saved rows
    python bench/cost_curves.py --phases build --keep-rows bench/results/cost_curves.json
                                   # rerun one phase at every size, the others kept from the file
    python bench/cost_curves.py --rounds 3 ...     # every phase 3 times, sizes taking turns
    python bench/cost_curves.py --sizes 20000000 40000000 --phases build lightgcn-epoch \
        --out-section cost-curves-40m --json bench/results/cost_curves_40m.json
                   # only some phases, past the main sizes: a section of just them
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_build_kernels, machine, publish, write_section  # noqa: E402

log = logging.getLogger("cost_curves")

PHASES = ("build", "lightgcn-epoch", "lightgcn-eval", "graph-filter")
PROPAGATION_REPEATS = 3
"""Timed forward passes of each kind in the eval phase; the table gives the median."""
WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "results" / "cost_curves.json"
STEPS_PER_EPOCH = 50
EPOCHS_TIMED = 2
"""Epochs the epoch phase trains: the first with the fit's one-time set-up, then the next."""
EPOCH_COLUMNS = (
    "*Epoch* is the first epoch of a fit, with the fit's one-time work (optimizer and sampler "
    "set-up, the first cut of the adjacency's tiles, the heap's first growth), *next epoch* "
    "the second epoch alone (`Trainer.epoch_seconds_`), what each further epoch costs. Rows "
    "without a next epoch trained one epoch and timed the whole fit, which then also paid "
    "the process's first torch optimizer's import of `torch._dynamo` (about 1.7 s at every "
    "size, so it flattered the small sizes); since the next-epoch column, that import is "
    "paid before the clock starts.")
"""What the epoch columns measure, for the sections that show them."""
BUILD_KERNELS = (
    "Rows with a kernel warm-up (`kernel_warmup_s`) were built by the compiled counting sorts "
    "of `lgrec.graph.kernels`, after a two-edge build that loads them, and repeat under "
    "`retained_heap`, so that every size's repeats reuse the memory the build before freed "
    "(glibc returns blocks over its mmap threshold, at most 32 MiB, on free, which spared only "
    "the small sizes' repeats their page faults); older rows used scipy's conversions and the "
    "default heap.")
"""How the build rows were measured, for the sections that show them."""
PRODUCT = "embedding_bag_two_pass"
"""The CPU sparse product the epoch and eval phases record: embedding-bag products
(``lgrec.graph.adjacency._bag_product``), past ``TILE_BYTES`` in the two passes of
``TiledMatrix`` (partial sums per column tile, then row sums). Rows with ``embedding_bag`` ran
tiles 32 MiB wide and as tall whose partial sums were added into the output with
``index_add_``; rows without the field ran with MKL's ``torch.sparse.mm``."""
BUILD_REPEATS = 7
"""Builds per size in the build phase: the table gives their median, the reading the first.
Seven, because on a shared VM one 20M build varied from 1.7 s to 4.8 s in a row."""
ITEM_EXPONENT = 0.9
USER_EXPONENT = 0.5

COSTS: tuple[tuple[str, str, str], ...] = (
    # (row key, label, unit)
    ("build_s", "graph build time", "s"),
    ("epoch_s", "LightGCN epoch time", "s"),
    ("epoch_next_s", "LightGCN next epoch time", "s"),
    ("lightgcn_eval_s", "LightGCN eval time", "s"),
    ("gf_fit_s", "graph-filter fit time", "s"),
    ("gf_eval_s", "graph-filter eval time", "s"),
    ("build_peak_gib", "graph build peak RSS", "GiB"),
    ("epoch_peak_gib", "LightGCN epoch peak RSS", "GiB"),
    ("lightgcn_eval_peak_gib", "LightGCN eval peak RSS", "GiB"),
    ("gf_peak_gib", "graph-filter peak RSS", "GiB"),
)


# --------------------------------------------------------------------------- helpers
def peak_gib() -> float:
    """This process's maximum resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def current_gib() -> float:
    """This process's resident set now."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except OSError:
        return float("nan")


def log_path(n: int) -> Path:
    return WORK / f"cost_curves_log_{n}.npz"


def shape_of(n: int) -> tuple[int, int]:
    """Users and items for ``n`` drawn interactions."""
    return max(2, n // 20), max(2, n // 100)


def power_law_draw(
    rng: np.random.Generator, count: int, size: int, exponent: float
) -> np.ndarray:
    """``size`` indices in ``0..count-1``, rank r drawn with p ∝ r^-exponent; ranks are mapped
    to ids through a random permutation so that popularity is not ordered by id."""
    weights = np.arange(1, count + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(size), side="right")
    np.minimum(ranks, count - 1, out=ranks)
    return rng.permutation(count).astype(np.int32)[ranks]


def synthetic_log(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A deduplicated log drawn from ``n`` interactions: every user gets one, the other
    ``n - n_users`` users follow p ∝ rank^-0.5; items p ∝ rank^-0.9. Shuffled order."""
    n_users, n_items = shape_of(n)
    rng = np.random.default_rng(seed)
    users = np.concatenate([
        np.arange(n_users, dtype=np.int32),
        power_law_draw(rng, n_users, max(0, n - n_users), USER_EXPONENT),
    ])
    items = power_law_draw(rng, n_items, len(users), ITEM_EXPONENT)
    keys = np.unique(users.astype(np.int64) * n_items + items)
    del users, items
    keys = keys[rng.permutation(len(keys))]
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32), n_users, n_items


def plain_propagation_seconds(graph: Any, model: Any) -> float:
    """Seconds of the model's forward pass done with torch's plain CSR product, no tiles or
    column blocks: the price per edge of gathers that go wherever the node table lives, to
    set against the blocked pass."""
    import torch

    started = time.perf_counter()
    layer = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    total = layer.clone()
    for _ in range(model.layers):
        layer = torch.sparse.mm(graph.adjacency, layer)
        total.add_(layer)
    total.div_(model.layers + 1)
    return time.perf_counter() - started


def holdout(R: Any, n_eval: int, seed: int) -> tuple[Any, Any]:
    """Hold out one random interaction of ``n_eval`` random users with at least two.

    Returns ``(train, truth)``: the matrix without those entries (what is masked at ranking
    time and what the models see) and the held-out entries.
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    degree = np.diff(R.indptr)
    eligible = np.flatnonzero(degree >= 2)
    chosen = np.sort(rng.choice(eligible, size=min(n_eval, len(eligible)), replace=False))
    position = R.indptr[chosen] + (rng.random(len(chosen)) * degree[chosen]).astype(np.int64)
    truth = sp.csr_matrix(
        (np.ones(len(chosen), dtype=np.float32), (chosen, R.indices[position])), shape=R.shape
    )
    train = R.copy()
    train.data[position] = 0
    train.eliminate_zeros()
    return train, truth


def write_log(n: int, seed: int = 0) -> dict[str, Any]:
    """Draw the log of size ``n`` and save it at :func:`log_path`; returns its counts."""
    started = time.perf_counter()
    users, items, n_users, n_items = synthetic_log(n, seed)
    generate_s = time.perf_counter() - started
    WORK.mkdir(parents=True, exist_ok=True)
    np.savez(log_path(n), users=users, items=items, shape=np.array([n_users, n_items]))
    return {"generate_s": generate_s, "edges": len(users), "users": n_users, "items": n_items,
            "users_with_edges": int(len(np.unique(users))),
            "items_with_edges": int(len(np.unique(items)))}


# --------------------------------------------------------------------------- child side
def run_phase(phase: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One phase on the log of size ``n``, inside its own process."""
    import torch

    from lgrec.eval.ranking import evaluate_ranking
    from lgrec.graph import Graph, interaction_matrix
    from lgrec.graph.adjacency import PARTIAL_SUMS_PER_ROW, TILE_BYTES, tiles_for

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out: dict[str, Any] = {"phase": phase, "size": n,
                           "thp_mem_alloc_enable": os.environ.get("THP_MEM_ALLOC_ENABLE")}
    if phase == "generate":
        out.update(write_log(n, args.seed))
        return out

    out["base_gib"] = peak_gib()  # interpreter, numpy, torch, lgrec
    with np.load(log_path(n)) as data:
        users, items = data["users"], data["items"]
        n_users, n_items = (int(v) for v in data["shape"])
    out["log_gib"] = peak_gib()
    out["log_current_gib"] = current_gib()
    out["edges"] = len(users)
    log.info("[%s n=%d] log loaded: %d edges, RSS %.2f GiB", phase, n, len(users), current_gib())

    if phase == "build":
        from lgrec.train.heap import retained_heap

        out["kernel_warmup_s"] = load_build_kernels(users, items, n_users, n_items)
        times = []
        # Each repeat reuses the memory the one before freed, at every size: without this
        # glibc returns blocks over its mmap threshold (at most 32 MiB) to the system on free,
        # so only the small sizes' repeats would reuse theirs and the large ones' would fault
        # every page in again.
        with retained_heap():
            for _ in range(BUILD_REPEATS):
                started = time.perf_counter()
                graph = Graph.from_interactions(users, items, n_users, n_items)
                times.append(time.perf_counter() - started)
                del graph  # one graph alive at a time, so the peak is one build's
        out["build_s"] = float(np.median(times))
        out["build_first_s"] = times[0]
        out["build_times_s"] = times
        out["build_peak_gib"] = peak_gib()
        return out

    if phase == "lightgcn-epoch":
        from lgrec.models.lightgcn import LightGCN
        from lgrec.train.config import TrainConfig
        from lgrec.train.trainer import Trainer

        # A process's first torch optimizer imports torch._dynamo (about 1.7 s, the same at
        # every size): paid here, untimed, so that it does not flatter the small sizes.
        started = time.perf_counter()
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        out["import_warmup_s"] = time.perf_counter() - started
        graph = Graph.from_interactions(users, items, n_users, n_items)
        del users, items
        batch_size = math.ceil(graph.n_edges / STEPS_PER_EPOCH)
        model = LightGCN(n_users, n_items, dim=64, layers=3)
        config = TrainConfig(epochs=EPOCHS_TIMED, threads=args.threads, progress=False,
                             batch_size=batch_size, loss="bpr", seed=args.seed)
        log.info("[%s n=%d] training %d epochs, %d steps of %d", phase, n, EPOCHS_TIMED,
                 STEPS_PER_EPOCH, batch_size)
        started = time.perf_counter()
        trainer = Trainer(config).fit(model, graph)
        fit_s = time.perf_counter() - started
        epochs = trainer.epoch_seconds_
        # The first epoch carries the fit's one-time work (optimizer and sampler set-up, the
        # tiles' cut, the heap's first growth); the later ones are what each further costs.
        out["epoch_s"] = fit_s - sum(epochs[1:])
        out["epoch_next_s"] = float(np.median(epochs[1:]))
        out["epoch_times_s"] = epochs
        out["fit_setup_s"] = fit_s - sum(epochs)
        out["batch_size"] = batch_size
        out["steps"] = math.ceil(graph.n_edges / batch_size)
        out["epoch_peak_gib"] = peak_gib()
        out.update(tile_mib=TILE_BYTES >> 20, product=PRODUCT,
                   partial_sums_per_row=PARTIAL_SUMS_PER_ROW)
        out.update(tiling_of(tiles_for(graph.adjacency, torch.empty(graph.n_nodes, 64))))
        return out

    R = interaction_matrix(users, items, n_users, n_items)
    del users, items
    train, truth = holdout(R, args.eval_users, args.seed)
    del R
    out["eval_users"] = int(truth.nnz)

    if phase == "lightgcn-eval":
        from lgrec.eval.ranking import dot_scorer
        from lgrec.models.lightgcn import LightGCN

        graph = Graph.from_csr(train)
        model = LightGCN(n_users, n_items, dim=64, layers=3).eval()  # untrained: random vectors
        with torch.no_grad():
            started = time.perf_counter()
            model(graph)  # the first pass also cuts the adjacency's tiles, where it has any
            out["propagate_first_s"] = time.perf_counter() - started
            tiled = tiles_for(graph.adjacency, model.user_embedding.weight.new_empty(
                graph.n_nodes, model.user_embedding.weight.shape[1]))
            out["product"] = PRODUCT
            if tiled is not None:
                out.update(tile_mib=TILE_BYTES >> 20, partial_sums_per_row=PARTIAL_SUMS_PER_ROW)
                out.update(tiling_of(tiled))
            plain_propagation_seconds(graph, model)  # warm-up
            blocked, plain = [], []
            for _ in range(PROPAGATION_REPEATS):  # alternated, so drift hits both alike
                started = time.perf_counter()
                user_vectors, item_vectors = model(graph)
                blocked.append(time.perf_counter() - started)
                plain.append(plain_propagation_seconds(graph, model))
            out["propagate_s"] = float(np.median(blocked))
            out["propagate_plain_s"] = float(np.median(plain))
        log.info("[%s n=%d] ranking %d users against %d items", phase, n, truth.nnz, n_items)
        evaluation = evaluate_ranking(dot_scorer(user_vectors, item_vectors), truth,
                                      exclude=train, k=(20,), batch_size=args.eval_batch_size)
        out["lightgcn_eval_s"] = evaluation.seconds
        out["lightgcn_eval_users_per_s"] = evaluation.users_per_second
        out["lightgcn_eval_peak_gib"] = peak_gib()
        return out

    if phase == "graph-filter":
        from lgrec.models.graph_filter import GraphFilter

        model = GraphFilter(n_users, n_items, rank=args.rank, alpha=0.3)
        log.info("[%s n=%d] fitting rank %d", phase, n, args.rank)
        started = time.perf_counter()
        model.fit_closed_form(train)
        out["gf_fit_s"] = time.perf_counter() - started
        out["gf_fit_peak_gib"] = peak_gib()
        started = time.perf_counter()
        with torch.no_grad():
            user_vectors, item_vectors = model()
        out["gf_vectors_s"] = time.perf_counter() - started
        log.info("[%s n=%d] ranking %d users against %d items", phase, n, truth.nnz, n_items)
        evaluation = evaluate_ranking(
            lambda rows: model.score_users(rows, user_vectors, item_vectors), truth,
            exclude=train, k=(20,), batch_size=args.eval_batch_size,
        )
        out["gf_eval_s"] = evaluation.seconds
        out["gf_eval_users_per_s"] = evaluation.users_per_second
        out["gf_peak_gib"] = peak_gib()
        return out

    raise ValueError(f"unknown phase {phase!r}")


# --------------------------------------------------------------------------- parent side
def tiling_of(tiled: Any) -> dict[str, Any]:
    """What a ``TiledMatrix`` cut the adjacency into (empty where the table needed no tiles)."""
    if tiled is None:
        return {}
    return {"tiles": tiled.n_tiles, "partial_sums": tiled.n_partial_sums,
            "bands": tiled.n_bands, "tile_cols": tiled.tile_cols}


def spawn(phase: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its logging goes straight to our stderr."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--size", str(n),
               "--threads", str(args.threads), "--seed", str(args.seed),
               "--eval-users", str(args.eval_users), "--eval-batch-size",
               str(args.eval_batch_size), "--rank", str(args.rank)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=args.phase_timeout)
    except subprocess.TimeoutExpired:
        log.error("phase %s at n=%d killed after %.0fs", phase, n, args.phase_timeout)
        return {"phase": phase, "size": n, "error": f"timeout after {args.phase_timeout:g}s",
                "process_s": time.perf_counter() - started}
    wall = time.perf_counter() - started
    if done.returncode != 0:
        log.error("phase %s at n=%d failed with exit status %d", phase, n, done.returncode)
        return {"phase": phase, "size": n, "error": f"exit status {done.returncode}",
                "process_s": wall}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def generate(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Draw the log of size ``n`` (in its own process) and start its row."""
    log.info("size %d: generating the log", n)
    generated = spawn("generate", n, args)
    if "error" in generated:
        raise RuntimeError(f"could not generate the log of size {n}")
    log.info("size %d: %d distinct edges, %d users, %d items (%.1fs)", n, generated["edges"],
             generated["users"], generated["items"], generated["generate_s"])
    return {"drawn": n, "edges": generated["edges"], "users": generated["users"],
            "items": generated["items"], "generate_s": generated["generate_s"],
            "phases": {"generate": generated}}


def run_phases(n: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """One fresh process per measured phase at size ``n``; kept phases are not run."""
    results = {}
    for phase in args.phases:
        log.info("size %d: phase %s", n, phase)
        result = spawn(phase, n, args)
        log.info("size %d: %s done in %.1fs (process) %s", n, phase, result["process_s"],
                 {k: round(v, 3) for k, v in result.items()
                  if isinstance(v, float) and k != "process_s"})
        results[phase] = result
    return results


def median_of_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's result over several rounds: the median of every number all rounds have,
    the rest from the first round, and each round's own numbers under ``rounds``."""
    if len(rounds) == 1:
        return rounds[0]
    combined = dict(rounds[0])
    for key in rounds[0]:
        values = [r.get(key) for r in rounds]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            combined[key] = statistics.median_low(values)  # counts stay whole
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            combined[key] = float(np.median(values))
    errors = [r["error"] for r in rounds if "error" in r]
    if errors:
        combined["error"] = "; ".join(errors)
    combined["rounds"] = [{k: v for k, v in r.items() if isinstance(v, (int, float))}
                          for r in rounds]
    return combined


def fill_row(row: dict[str, Any], results: dict[str, dict[str, Any]],
             args: argparse.Namespace) -> dict[str, Any]:
    """Put each phase's result (measured now, or kept from ``--keep-rows``) into ``row``."""
    kept = kept_row(row["drawn"], args)
    for phase in PHASES:
        if phase in results:
            result = results[phase]
        elif kept is not None:
            result = {**kept["phases"][phase], "kept": True}
        else:
            continue
        row["phases"][phase] = result
        for key, value in result.items():
            if key in {"phase", "size", "edges", "process_s", "kept", "rounds"}:
                continue
            if key == "error":
                row.setdefault("errors", {})[phase] = value
            elif key in {"base_gib", "log_gib", "log_current_gib"}:
                row[f"{phase}:{key}"] = value
            else:
                row[key] = value
    return complete(row)


def kept_row(n: int, args: argparse.Namespace) -> dict[str, Any] | None:
    """The row for size ``n`` in ``--keep-rows``, when only some phases are rerun."""
    if args.keep_rows is None:
        return None
    for row in args.kept_rows:
        if row["drawn"] == n:
            return row
    raise SystemExit(f"{args.keep_rows} has no row for size {n}")


def complete(row: dict[str, Any]) -> dict[str, Any]:
    """Fill the summary fields a row's per-phase results imply (also for older JSON rows)."""
    phases = [row.get("phases", {}).get(p, {}) for p in PHASES]
    for key in ("base_gib", "log_gib"):
        if row.get(key) is None:
            row[key] = next((p[key] for p in phases if p.get(key) is not None), None)
    if row.get("eval_users") is None:
        row["eval_users"] = next(
            (p["eval_users"] for p in phases if p.get("eval_users") is not None), None)
    return row


def partial_section(rows: list[dict[str, Any]], meta: dict[str, Any],
                    args: argparse.Namespace) -> str:
    """A section for a run of only some phases (e.g. build and epoch past the main sizes): what
    was run, a row per size of the measured costs, per-edge prices and time exponents."""
    measured = [(key, label, unit) for key, label, unit in COSTS
                if all(row.get(key) is not None for row in rows)]
    timed = [(key, label) for key, label, unit in measured if unit == "s"]
    rebuild = shlex.join(["python", "bench/cost_curves.py", "--phases", *args.phases,
                          "--out-section", args.out_section, "--from-json",
                          str(args.from_json or args.json)])
    lines = [
        f"## Cost curves, {', '.join(args.phases)} only: "
        + ", ".join(f"{row['edges']:,}" for row in rows) + " interactions",
        "",
        f"Command: `{meta['command']}`",
        f"Date: {meta['date']}",
        f"Rebuild this section from its rows: `{rebuild}`.",
        f"Machine: {meta['machine']}; {meta['threads']} torch threads per phase; "
        f"{meta.get('rounds', 1)} round(s). Logs, phases and columns as in the section "
        "\"cost-curves\"."
        + (f" {EPOCH_COLUMNS}" if any(k == "epoch_next_s" for k, _, _ in measured) else "")
        + (f" The build is `Graph.from_interactions`, {BUILD_REPEATS} times in a process, the "
           f"table giving their median. {BUILD_KERNELS}"
           if any(row.get("kernel_warmup_s") is not None for row in rows) else ""),
        "",
        "| edges | " + " | ".join(f"{label} ({unit})" for _, label, unit in measured) + " |",
        "|---:|" + "---:|" * len(measured),
        *[f"| {row['edges']:,} | " + " | ".join(f"{row[key]:.3g}" for key, _, _ in measured)
          + " |" for row in rows],
        "",
    ]
    for key, label in timed:
        prices = ", ".join(f"{row[key] / row['edges'] * 1e9:,.0f} ns" for row in rows)
        line = f"- {label}: per edge {prices}"
        if len(rows) > 1:
            line += f"; exponent {growth_exponent(rows, key):.2f}"
        lines.append(line + ".")
    if len(rows) > 1 and all(row.get("build_first_s") for row in rows):
        firsts = ", ".join(f"{row['build_first_s'] / row['edges'] * 1e9:,.0f} ns"
                           for row in rows)
        lines.append(f"- first build in each process (its memory's first touch included): per "
                     f"edge {firsts}; exponent {growth_exponent(rows, 'build_first_s'):.2f}.")
    if len(rows) > 1 and all(row.get("build_peak_gib") and row.get("log_gib") for row in rows):
        lines.append("- graph build peak RSS above the loaded log's: exponent "
                     f"{growth_exponent(rows, 'build_peak_gib', 'log_gib'):.2f}.")
    return "\n".join(lines)


def growth_exponent(rows: list[dict[str, Any]], key: str, offset: str | None = None) -> float:
    """Slope of log(cost) against log(edges); ``offset`` names a per-row baseline subtracted
    first (memory above the bare interpreter)."""
    xs, ys = [], []
    for r in rows:
        value = r.get(key)
        if value is None:
            continue
        if offset is not None:
            value = value - (r.get(offset) or 0.0)
        if value > 0:
            xs.append(math.log(r["edges"]))
            ys.append(math.log(value))
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(xs, ys, 1)[0])


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.array([r["edges"] for r in rows], dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, keys, unit in (
        (left, [c for c in COSTS if c[2] == "s"], "seconds"),
        (right, [c for c in COSTS if c[2] == "GiB"]
         + [("log_gib", "log loaded (+ interpreter)", "GiB")], "peak RSS (GiB)"),
    ):
        for key, label, _ in keys:
            values = np.array([r.get(key) or np.nan for r in rows], dtype=float)
            ax.plot(edges, values, marker="o", label=label)
        top = np.nanmax([r.get(k) or np.nan for r in rows for k, _, _ in keys])
        ax.plot(edges, top * edges / edges[-1], color="grey", linestyle=":", label="∝ edges")
        if unit != "seconds":
            base = np.nanmedian([r.get("base_gib") or np.nan for r in rows])
            ax.axhline(base, color="black", linestyle="--", linewidth=0.8,
                       label="interpreter + torch, no data")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("interactions (distinct edges)")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    left.set_title("time")
    right.set_title("peak memory per phase process")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(value: float | None, digits: int | None = None) -> str:
    """A figure for the table: ``digits`` decimals, or three significant ones at most."""
    if value is None or not math.isfinite(value):
        return "–"
    if digits is not None:
        return f"{value:,.{digits}f}"
    decimals = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3
    return f"{value:,.{decimals}f}"


def l3_cache_mib() -> float | None:
    """The last-level cache of CPU 0 in MiB, from sysfs (None where it is not exposed)."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
    except OSError:
        return None
    units = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) / 2**20


def node_table_mib(row: dict[str, Any], dim: int = 64) -> float:
    """Size of one float32 vector per node (users + items): what each propagation gathers from."""
    return (row["users"] + row["items"]) * dim * 4 / 2**20


def tiling(rows: list[dict[str, Any]], phase: str) -> str:
    """The tiles and products the rows' ``phase`` ran with. Rows from before a field was
    recorded ran with MKL's CSR product (``torch.sparse.mm``) in tiles 8 MiB wide, 2 tall."""
    kinds = set()
    for row in rows:
        measured = row.get("phases", {}).get(phase, {})
        if "product" in measured and "tile_mib" not in measured:
            continue  # recorded, and its table needed no tiles
        if measured.get("product") == "embedding_bag_two_pass":
            kinds.add(f"tiles at most {measured['tile_mib']} MiB of the node table wide, cut "
                      "apart on the user and item sides, two embedding-bag passes (partial "
                      "sums per tile, then row sums)")
            continue
        product = ("embedding-bag" if measured.get("product") == "embedding_bag"
                   else "MKL CSR (`addmm_`)")
        height = measured.get("band_height", 2)
        kinds.add(f"{measured.get('tile_mib', 8)} MiB of the node table wide and "
                  f"{'as' if height == 1 else f'{height} times as'} tall, {product} products")
    return " / ".join(sorted(kinds))


def section(rows: list[dict[str, Any]], meta: dict[str, Any], plot_ref: str) -> str:
    """The BENCHMARKS.md section: what was run, the table, the exponents and the plot."""
    before, after = meta.get("load_before"), meta.get("load_after")
    load = ("not recorded" if before is None
            else f"{before:.2f} before, {after:.2f} after")
    lines = [
        "## Cost curves: time and memory against interactions",
        "",
        f"Command: `{meta['command']}`",
        f"Date: {meta['date']}",
        "Rows: bench/results/cost_curves.json; this section and the plot are rebuilt from them "
        "with `python bench/cost_curves.py --from-json bench/results/cost_curves.json`.",
        *source_lines(meta),
        f"Machine: {meta['machine']}; last-level (L3) cache "
        + (f"{meta['l3_mib']:.0f} MiB" if meta.get("l3_mib") else "not exposed"),
        f"Load average (1 min): {load} (other jobs may share the machine; "
        f"{meta['threads']} torch threads per phase)",
        "",
        f"Synthetic logs: users = n/20, items = n/100; every user gets one interaction, the "
        f"others are drawn with p ∝ rank^-{USER_EXPONENT} over users and every item with "
        f"p ∝ rank^-{ITEM_EXPONENT} (seeded), duplicates removed; the interaction counts "
        "below are the distinct edges. Every phase runs in its own fresh process; peak RSS is "
        "that process's maximum resident set, the interpreter with torch and the loaded log "
        "included (the 'log RSS' column is the peak right after loading the log, before the "
        "phase). A run with `--rounds R` measures its phases R times, the sizes taking turns "
        "(1M, 5M, 20M, 1M, ...), and the table gives the median over the rounds, so that a "
        "change in the load of the shared machine during the run falls on every size alike "
        "(each round's figures are in the JSON rows).",
        "",
        "* **build**: `Graph.from_interactions` (interaction matrix, symmetric normalisation, "
        f"bipartite adjacency as torch sparse CSR), {BUILD_REPEATS} times in the phase's "
        "process; the table gives the median (the first build, which also pays for the "
        f"process's first touch of its memory, is in the reading below). {BUILD_KERNELS}",
        f"* **epoch**: LightGCN epochs (dim 64, 3 layers, BPR, 1 negative) with `Trainer`, "
        f"batch size = ⌈edges / {STEPS_PER_EPOCH}⌉, i.e. a fixed {STEPS_PER_EPOCH} gradient "
        f"steps. {EPOCH_COLUMNS} Each step propagates over the whole graph (O(edges)), so a fixed batch size "
        "would make an epoch quadratic in edges; growing the batch with the graph keeps it "
        "linear. The graph build before it is not timed but is in its peak RSS. Where the "
        "node table is over `TILE_BYTES` (twice `CACHE_BLOCK_BYTES` before the embedding-bag "
        "product; either way from 5M on here) every "
        "propagation runs through tiles of the adjacency "
        "(`lgrec.graph.adjacency.TiledMatrix`), so that its gathers stay in cache: in the "
        f"epoch column {tiling(rows, 'lightgcn-epoch')}; in the forward-pass column and the "
        f"tile counts of the reading {tiling(rows, 'lightgcn-eval')} (section "
        "sparse-product compares the two products). The epoch also "
        "draws its negatives (a binary search in each user's row of the CSR matrix) and "
        "steps a fused Adam. Earlier rows of this table, 1M / 5M / 20M: "
        "16.4 / 220 / 996 s without tiles (commit f145016); 15.5 / 106 / 773 s with tiles "
        "(commit 2aedaf7), before the propagation became one autograd function whose "
        "backward is another propagation, the sampler searched users' rows instead of a "
        "sorted array of all interactions, and Adam was fused (commits 45a288c, 051dbdc); "
        "10.4 / 65.7 / 499 s (commit 80d0c10) before `import lgrec` set "
        "`THP_MEM_ALLOC_ENABLE=1`, which puts torch's tensors of 2 MiB and more on "
        "transparent huge pages (section huge-pages; the rows record the setting); "
        "9.58 / 57.7 / 272 s (commit 512a28b, epoch exponent 1.10) with MKL's CSR product, "
        "in tiles 8 MiB wide and 4 tall from 5M on and in 32-column blocks at 1M, before the "
        "embedding-bag product (bd35637), which made the 1M and 5M epochs faster by more than "
        "the 20M one.",
        f"* **LightGCN eval**: full ranking of {meta['eval_users']:,} random users (one held-out "
        "interaction each, the rest masked) against every item, `evaluate_ranking` with "
        f"batches of {meta['eval_batch_size']}. The embeddings are random (untrained): ranking "
        "cost does not depend on training. The propagation that makes the vectors is not "
        "timed: it is the *forward pass* column (3 layers, no gradient; the median of "
        f"{PROPAGATION_REPEATS} passes after the first, which also cuts the tiles, see the "
        "reading). *Node table* is one "
        "64-dim float32 vector per user and item, what every propagation gathers rows from "
        "once per edge.",
        f"* **graph filter**: `GraphFilter(rank={meta['rank']}, alpha=0.3).fit_closed_form(R)` "
        "(truncated SVD) and full ranking of the same users with its `score_users` "
        "(two sparse products with all of R per batch).",
        "",
        "| interactions | users | items | node table (MiB) | log RSS (GiB) | build (s) "
        "| build peak (GiB) | epoch (s) | next epoch (s) | forward pass (s) | epoch peak (GiB) "
        "| LightGCN eval, users (s, users/s) "
        "| graph-filter fit (s) | graph-filter eval (s, users/s) | graph-filter peak (GiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        users = "–" if r.get("eval_users") is None else f"{r['eval_users']:,}"
        lg = (f"{users}: {fmt(r.get('lightgcn_eval_s'))} "
              f"({fmt(r.get('lightgcn_eval_users_per_s'), 0)}/s)")
        gf = f"{fmt(r.get('gf_eval_s'))} ({fmt(r.get('gf_eval_users_per_s'), 0)}/s)"
        lines.append(
            f"| {r['edges']:,} | {r['users']:,} | {r['items']:,} | {node_table_mib(r):,.0f} "
            f"| {fmt(r.get('log_gib'), 2)} "
            f"| {fmt(r.get('build_s'))} | {fmt(r.get('build_peak_gib'), 2)} "
            f"| {fmt(r.get('epoch_s'))} | {fmt(r.get('epoch_next_s'))} "
            f"| {fmt(r.get('propagate_s'), 3)} "
            f"| {fmt(r.get('epoch_peak_gib'), 2)} | {lg} "
            f"| {fmt(r.get('gf_fit_s'))} | {gf} | {fmt(r.get('gf_peak_gib'), 2)} |"
        )
    failures = [f"{r['edges']:,} edges, {phase}: {why}"
                for r in rows for phase, why in r.get("errors", {}).items()]
    if failures:
        lines += ["", "Failed phases (left blank above): " + "; ".join(failures) + "."]
    lines += [
        "",
        "Growth exponents: the slope of log(cost) against log(edges) (least squares over the "
        "sizes). 1 means linear, ≤ 1 means no faster than linear, 2 quadratic. Memory "
        "exponents are fitted on the peak above the bare interpreter (numpy, torch and lgrec "
        "imported, before the log is loaded), so the fixed start-up cost does not flatten them.",
        "",
        "| cost | exponent, all sizes | " + " | ".join(
            f"{a['edges'] / 1e6:.1f}M → {b['edges'] / 1e6:.1f}M" for a, b in zip(rows[:-1], rows[1:], strict=True))
        + " |",
        "|---|---:|" + "---:|" * (len(rows) - 1),
    ]
    for key, label, unit in COSTS:
        offset = "base_gib" if unit == "GiB" else None
        pairs = [growth_exponent([a, b], key, offset) for a, b in zip(rows[:-1], rows[1:], strict=True)]
        lines.append(f"| {label} | {growth_exponent(rows, key, offset):.2f} | "
                     + " | ".join(f"{p:.2f}" for p in pairs) + " |")
    lines += ["", *reading(rows, meta.get("l3_mib")), "", "![cost curves](" + plot_ref + ")"]
    return "\n".join(lines)


def source_lines(meta: dict[str, Any]) -> list[str]:
    """Where the phases were measured, when the rows combine several runs."""
    sources = meta.get("sources")
    if sources and len({(s["command"], s["date"]) for s in sources.values()}) > 1:
        return ["Phases measured in different runs (same machine): "
                + "; ".join(f"{phase}: `{s['command']}` ({s['date']})"
                            for phase, s in sources.items())]
    if meta.get("kept"):
        return [f"Phases other than {', '.join(meta['phases'])} kept from "
                f"`{meta['kept']['command']}` ({meta['kept']['date']})"]
    return []


def ns_per_edge_and_layer(row: dict[str, Any], key: str) -> float:
    """A 3-layer forward pass's seconds under ``key`` as nanoseconds per layer and stored
    non-zero (each edge is stored twice in the symmetric adjacency)."""
    return row[key] / (3 * 2 * row["edges"]) * 1e9


def tile_words(row: dict[str, Any]) -> str:
    """How a row's propagation was tiled, in words."""
    head = (f"{row['tiles']} tiles at {row['edges'] / 1e6:.1f}M, each about "
            f"{2 * row['edges'] / row['tiles']:,.0f} non-zeros")
    if "tile_rows" in row:
        return (f"{head} over {row['tile_rows']:,} output rows and {row['tile_cols']:,} "
                "table rows")
    return (f"{head}, at most {row['tile_cols']:,} table rows wide, "
            f"{row['partial_sums']:,} partial sums in {row['bands']} band(s)")


def reading(rows: list[dict[str, Any]], l3_mib: float | None) -> list[str]:
    """What the exponents say about linearity, with the per-edge cost of one propagation and
    where the node table sits against the last-level cache (the usual cause of a step up)."""
    out = ["**Reading.**"]
    for key, label in (("build_s", "Graph build"), ("epoch_s", "One LightGCN epoch"),
                       ("epoch_next_s", "The next LightGCN epoch")):
        if not all(r.get(key) for r in rows):
            continue
        pairs = [growth_exponent([a, b], key) for a, b in zip(rows[:-1], rows[1:], strict=True)]
        overall = growth_exponent(rows, key)
        verdict = ("no faster than linear" if overall <= 1.05 else
                   "faster than linear over the whole range")
        out.append(f"- {label}: exponent {overall:.2f} over all sizes ({verdict}); by step "
                   + ", ".join(f"{p:.2f}" for p in pairs) + ".")
    if len(rows) >= 2 and all(r.get("build_first_s") for r in rows):
        pairs = [growth_exponent([a, b], "build_first_s")
                 for a, b in zip(rows[:-1], rows[1:], strict=True)]
        out.append("- The first build in each fresh process took "
                   + ", ".join(f"{r['build_first_s']:.3g} s" for r in rows)
                   + f": exponent {growth_exponent(rows, 'build_first_s'):.2f} over all sizes, "
                   "by step " + ", ".join(f"{p:.2f}" for p in pairs) + ".")
    if all(r.get("propagate_first_s") for r in rows):
        out.append("- The first forward pass in each process, which also cuts the adjacency "
                   "into tiles where the node table needs them, took "
                   + ", ".join(f"{r['propagate_first_s']:.3g} s" for r in rows)
                   + f" (the table gives the median of the {PROPAGATION_REPEATS} after it).")
    build = [(r, r["build_s"] / r["edges"] * 1e9) for r in rows if r.get("build_s")]
    if build:
        dearer = build[-1][1] > 1.05 * build[0][1]
        out.append(
            "- The graph build does a fixed number of passes over its arrays per edge "
            "(counting sorts, degree sums, scaling, copies into torch) and costs "
            + ", ".join(f"{ns:.0f} ns per edge at {r['edges'] / 1e6:.1f}M" for r, ns in build)
            + (": the same work per edge at a higher price as the arrays outgrow the cache."
               if dearer else "."))
    per_edge = [(r, ns_per_edge_and_layer(r, "propagate_s")) for r in rows
                if r.get("propagate_s")]
    if per_edge:
        cache = f"the {l3_mib:.0f} MiB L3 cache" if l3_mib else "the last-level cache"
        out.append(
            "- The work per edge is the same at every size (an epoch is a fixed "
            f"{STEPS_PER_EPOCH} steps, each a constant number of sparse products over all "
            "edges), but its price is not: one propagation costs "
            + ", ".join(f"{ns:.1f} ns per edge and layer at {r['edges'] / 1e6:.1f}M "
                        f"(node table {node_table_mib(r):,.0f} MiB)" for r, ns in per_edge)
            + ". Each edge gathers a 256-byte row of the node table at a random place; "
            f"while the table fits {cache} those reads are cache hits, once it does not they "
            "go to main memory. Past `TILE_BYTES` the propagation runs in tiles "
            "that keep its reads in cache, paid for with many small products ("
            + ", ".join(tile_words(r) for r, _ in per_edge if r.get("tiles"))
            + "), which recovers part of the difference, not all of it.")
        plain = [(r, ns_per_edge_and_layer(r, "propagate_plain_s")) for r in rows
                 if r.get("propagate_plain_s")]
        if len(plain) == len(per_edge) == len(rows) >= 2:
            pairs = [growth_exponent([a, b], "propagate_plain_s")
                     for a, b in zip(rows[:-1], rows[1:], strict=True)]
            gains = [p / t for (_, p), (_, t) in zip(plain, per_edge, strict=True)]
            last = len(rows) - 1
            out.append(
                "- The same forward pass with torch's plain CSR product (no tiles, no column "
                "blocks) costs "
                + ", ".join(f"{ns:.1f} ns per edge and layer at {r['edges'] / 1e6:.1f}M"
                            for r, ns in plain)
                + " (" + ", ".join(f"{r['propagate_plain_s']:.3g} s" for r, _ in plain)
                + "; exponent by step " + ", ".join(f"{p:.2f}" for p in pairs) + "): "
                + ", ".join(f"{g:.1f}x" for g in gains)
                + " the time of the model's pass, which blocks the table where it outgrows "
                "the cache"
                + f". From {rows[last - 1]['edges'] / 1e6:.1f}M to "
                f"{rows[last]['edges'] / 1e6:.1f}M the plain product's price per edge "
                f"changes by {plain[last][1] / plain[last - 1][1]:.2f}x and the blocked "
                f"pass's by {per_edge[last][1] / per_edge[last - 1][1]:.2f}x: "
                + ("once the node table is past the cache the plain product is about linear, "
                   "and the blocked pass rises because its tiles thin out and gain less."
                   if plain[last][1] / plain[last - 1][1] <= 1.1 else
                   "part of the blocked pass's rise is its tiles thinning out, the rest is "
                   "in the gathers themselves."))
        fits = [(r, ns) for r, ns in per_edge if l3_mib and node_table_mib(r) <= l3_mib]
        spills = [(r, ns) for r, ns in per_edge if l3_mib and node_table_mib(r) > l3_mib]
        if fits and len(spills) >= 2:
            (a, ns_a), (b, ns_b) = spills[-2], spills[-1]
            out.append(
                f"- Between the two sizes whose node table is past the cache "
                f"({a['edges'] / 1e6:.1f}M and {b['edges'] / 1e6:.1f}M) the cost per edge "
                f"changes by {ns_b / ns_a:.2f}×, against {spills[0][1] / fits[-1][1]:.2f}× "
                "across the cache boundary: "
                + ("the step is a one-time change of memory tier, and past it time grows "
                   "about linearly with edges." if ns_b / ns_a <= 1.15 else
                   "the cost per edge keeps rising past the cache, so this is not only a "
                   "change of memory tier."))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)),
                        default=[1_000_000, 5_000_000, 20_000_000],
                        help="Drawn interactions per log (before duplicates are removed).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every phase.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--eval-batch-size", type=int, default=1024,
                        help="Users per ranking batch (evaluate_ranking's default).")
    parser.add_argument("--rank", type=int, default=256, help="Graph-filter SVD rank.")
    parser.add_argument("--phase-timeout", type=float, default=None,
                        help="Seconds before a phase process is killed (default: none).")
    parser.add_argument("--out-section", default="cost-curves",
                        help="BENCHMARKS.md section to write.")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "cost_curves.png")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                        help="Phases to measure (default: all).")
    parser.add_argument("--keep-rows", type=Path, metavar="PATH",
                        help="With --phases: take the other phases of every size from this "
                             "JSON (an earlier run's), so one phase can be rerun alone.")
    parser.add_argument("--rounds", type=int, default=1,
                        help="Measure the phases this many times, the sizes taking turns; "
                             "the table gives the median over rounds.")
    parser.add_argument("--keep-logs", action="store_true",
                        help="Keep the generated logs in bench/_work.")
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="Measure nothing: rebuild the plot and the section from the rows "
                             "a previous run wrote to PATH.")
    parser.add_argument("--phase", choices=("generate", *PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.size, args)), flush=True)
        return

    partial = args.keep_rows is None and set(args.phases) != set(PHASES)
    if partial and not args.no_write and args.out_section == "cost-curves":
        parser.error("--phases without every phase needs --keep-rows for the others, or "
                     "--out-section naming another section (or --no-write) for a table of "
                     "just them")
    if args.from_json:
        rows, meta = read_rows(args.from_json, args)
    else:
        rows, meta = measure(args)
    rows = [complete(r) for r in rows]
    if partial:
        publish(args.out_section, [partial_section(rows, meta, args)], no_write=args.no_write)
        return
    plot_path = args.plot.resolve()
    plot(rows, plot_path)
    try:
        plot_ref = plot_path.relative_to(ROOT).as_posix()
    except ValueError:
        plot_ref = str(plot_path)
    body = section(rows, meta, plot_ref)
    if args.no_write:
        print(body)
    else:
        write_section(args.out_section, body)
        log.info("wrote section %s of BENCHMARKS.md and %s", args.out_section, plot_path)


def measure(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every size, every phase; the JSON is rewritten after each size."""
    meta: dict[str, Any] = {
        "command": "python bench/cost_curves.py"
                   + (" " + shlex.join(sys.argv[1:]) if len(sys.argv) > 1 else ""),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
        "machine": machine(),
        "load_before": os.getloadavg()[0],
        "threads": args.threads,
        "eval_users": args.eval_users,
        "eval_batch_size": args.eval_batch_size,
        "rank": args.rank,
        "l3_mib": l3_cache_mib(),
    }
    kept_meta = None
    if args.keep_rows is not None:
        # Read once: --json may name the same file, rewritten after every size.
        args.kept_rows, kept_meta = read_rows(args.keep_rows, args)
        meta["phases"] = list(args.phases)
        meta["kept"] = {"command": kept_meta["command"], "date": kept_meta["date"]}
    meta["sources"] = phase_sources(meta, kept_meta, args.phases)
    meta["rounds"] = args.rounds
    clock = time.perf_counter()
    rows: list[dict[str, Any]] = []
    measured: dict[int, list[dict[str, dict[str, Any]]]] = {n: [] for n in args.sizes}
    try:
        skeletons = {n: generate(n, args) for n in args.sizes}
        for round_ in range(args.rounds):
            # The sizes take turns, so that a change of the shared machine's load during the
            # run falls on every size alike instead of on whichever ran last.
            for n in args.sizes:
                if args.rounds > 1:
                    log.info("round %d of %d, size %d", round_ + 1, args.rounds, n)
                measured[n].append(run_phases(n, args))
            rows = [fill_row(copy.deepcopy(skeletons[n]),
                             {phase: median_of_rounds([r[phase] for r in measured[n]])
                              for phase in args.phases}, args)
                    for n in args.sizes]
            meta["load_after"] = os.getloadavg()[0]
            meta["seconds"] = time.perf_counter() - clock
            meta["rounds_done"] = round_ + 1
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    finally:
        if not args.keep_logs:
            for n in args.sizes:
                log_path(n).unlink(missing_ok=True)
    log.info("all sizes done in %.0fs; rows in %s", time.perf_counter() - clock, args.json)
    return rows, meta


def phase_sources(meta: dict[str, Any], kept_meta: dict[str, Any] | None,
                  phases: list[str]) -> dict[str, dict[str, str]]:
    """Which run measured each phase: this one for ``phases``, else the kept file's record
    (its own run where the file predates per-phase records)."""
    this_run = {"command": meta["command"], "date": meta["date"]}
    sources = {}
    for phase in PHASES:
        if kept_meta is None or phase in phases:
            sources[phase] = this_run
        else:
            sources[phase] = kept_meta.get("sources", {}).get(
                phase, {"command": kept_meta["command"], "date": kept_meta["date"]})
    return sources


def read_rows(path: Path, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and run description from a JSON this script wrote; a bare list of rows (what the
    first version wrote) gets a description rebuilt from the rows and the file's time."""
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        return data["rows"], data["meta"]
    sizes = " ".join(str(r["drawn"]) for r in data)
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    meta = {
        "command": f"python bench/cost_curves.py --sizes {sizes}",
        "date": stamp.isoformat(timespec="minutes") + " (time of the rows file)",
        "machine": machine(),
        "threads": args.threads,
        "eval_users": args.eval_users,
        "eval_batch_size": args.eval_batch_size,
        "rank": args.rank,
        "l3_mib": l3_cache_mib(),
    }
    return data, meta


if __name__ == "__main__":
    main()
