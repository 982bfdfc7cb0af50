"""Encoding throughput of the default sentence encoder on the MovieLens-100K titles.

Measures, on the 1,682 item texts built with :func:`lgrec.text.rows_to_text`:

* model load time;
* a cold run: every text encoded and written to a fresh cache directory;
* a cached run: a new ``CachedEncoder`` on the same directory (as a second run of the same
  job), which should encode nothing.

Usage::

    python bench/text_encoding.py [--batch-size 64] [--repeats 3]

Not a test: it prints the figures and writes the section ``text-encoding`` of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# lgrec first: it sets OMP_WAIT_POLICY=PASSIVE before torch loads its OpenMP runtime.
from lgrec.text import CachedEncoder, load_encoder, rows_to_text  # isort: skip

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd
import torch
from common import machine, write_section  # noqa: E402

ITEM_FILE = Path(__file__).resolve().parents[1] / "lgrec" / "datasets" / "ml-100k" / "ml-100k.item"
TEMPLATE = "{movie_title} ({release_year}). Genres: {class}"


def load_texts() -> list[str]:
    """Item texts such as "Toy Story (1995). Genres: Animation, Children's, Comedy"."""
    frame = pd.read_csv(ITEM_FILE, sep="\t", dtype=str, keep_default_na=False)
    return rows_to_text(frame, template=TEMPLATE, list_columns=["class:token_seq"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="cold runs, each on a new cache")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = load_texts()
    print(f"{len(texts)} texts, e.g. {texts[0]!r}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load}")

    start = time.perf_counter()
    encoder = load_encoder(progress=False)
    print(f"load: {time.perf_counter() - start:.2f} s ({encoder.model_id}, {encoder.dim} dims)")
    encoder.encode(texts[:64])  # warm-up: first call allocates and tunes kernels

    cold, cached, cold_cpu = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            first = CachedEncoder(encoder, cache_dir)
            start, start_cpu = time.perf_counter(), time.process_time()
            first.encode(texts, batch_size=args.batch_size)
            cold.append(time.perf_counter() - start)
            # CPU seconds of this process: less sensitive than wall time to other jobs sharing
            # the cores (the figure a loaded machine can still report honestly).
            cold_cpu.append(time.process_time() - start_cpu)
            assert first.last_encoded == len(set(texts))

            second = CachedEncoder(encoder, cache_dir)
            start = time.perf_counter()
            second.encode(texts, batch_size=args.batch_size)
            cached.append(time.perf_counter() - start)
            assert second.last_encoded == 0
            second.close()
            first.close()

    cpu = statistics.median(cold_cpu)
    print(f"cold CPU time: median {cpu:.2f} CPU-s = {len(texts) / cpu:,.0f} texts per CPU-second")
    rows = []
    for name, times in (("cold (encode + write cache)", cold), ("cached second run", cached)):
        best, median = min(times), statistics.median(times)
        print(
            f"{name}: median {median:.3f} s = {len(texts) / median:,.0f} texts/s "
            f"(best {len(texts) / best:,.0f} texts/s, {len(times)} runs)"
        )
        rows.append(f"| {name} | {median:.3f} | {len(texts) / median:,.0f} | {len(texts) / best:,.0f} |")
    after = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    write_section("text-encoding", "\n".join([
        "## Sentence encoding throughput (all-MiniLM-L6-v2, bundled)",
        "",
        f"Command: `python bench/text_encoding.py --repeats {args.repeats} "
        f"--batch-size {args.batch_size}`",
        f"Machine: {machine()}; load average before {load}, after {after}",
        "",
        f"{len(texts)} MovieLens-100K item texts (e.g. {texts[0]!r}); each cold run encodes them",
        "into a new on-disk cache, the cached run reads them back (it encodes zero texts).",
        f"CPU time of a cold run: {cpu:.2f} CPU-s ({len(texts) / cpu:,.0f} texts per CPU-second).",
        "",
        "| run | median time (s) | texts/s (median) | texts/s (best) |",
        "|---|---:|---:|---:|",
        *rows,
    ]))


if __name__ == "__main__":
    main()
