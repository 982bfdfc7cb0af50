"""Helpers shared by the benchmark scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np

from lgrec.eval.benchmark import machine_description
from lgrec.eval.benchmark import write_section as write_benchmark_section

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADER = (
    "# lgrec benchmarks\n\n"
    "Every section is written by a script in `bench/`; the command that produced it is given\n"
    "with it. Figures are measured, not copied.\n"
)


def machine() -> str:
    """One line naming the machine: CPU model, usable cores, memory, GPU, Python and torch."""
    return machine_description()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(name: str, body: str) -> Path:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text(HEADER)
    return write_benchmark_section(BENCHMARKS, name, body)


def publish(name: str, lines: list[str], *, no_write: bool = False) -> None:
    """Print a section's lines and, unless ``no_write``, put them in BENCHMARKS.md as ``name``."""
    body = "\n".join(lines)
    print(body)
    if not no_write:
        write_section(name, body)


def load_build_kernels(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> float:
    """Seconds a two-edge ``Graph.from_interactions`` of the log's own dtypes and sizes takes:
    a process's first build loads the build's compiled kernels (``lgrec.graph.kernels``), or
    compiles them after an install, the same at every size, so a timed build after this pays
    for the graph alone."""
    from lgrec.graph import Graph

    started = time.perf_counter()
    Graph.from_interactions(users[:2], items[:2], n_users, n_items)
    return time.perf_counter() - started
