"""Encoding throughput of the default sentence encoder on the MovieLens-100K titles.

Measures, on the 1,682 item texts built with :func:`lgrec.text.rows_to_text`:

* model load time;
* a cold run: every text encoded and written to a fresh cache directory;
* a cached run: a new ``CachedEncoder`` on the same directory (as a second run of the same
  job), which should encode nothing.

Usage::

    python bench/text_encoding.py [--batch-size 64] [--repeats 3]

Not a test: it prints figures, which go into ``bench/text_notes.md`` by hand.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from lgrec.text import CachedEncoder, load_encoder, rows_to_text

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
    args = parser.parse_args()

    texts = load_texts()
    print(f"{len(texts)} texts, e.g. {texts[0]!r}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    start = time.perf_counter()
    encoder = load_encoder(progress=False)
    print(f"load: {time.perf_counter() - start:.2f} s ({encoder.model_id}, {encoder.dim} dims)")
    encoder.encode(texts[:64])  # warm-up: first call allocates and tunes kernels

    cold, cached = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            first = CachedEncoder(encoder, cache_dir)
            start = time.perf_counter()
            first.encode(texts, batch_size=args.batch_size)
            cold.append(time.perf_counter() - start)
            assert first.last_encoded == len(set(texts))

            second = CachedEncoder(encoder, cache_dir)
            start = time.perf_counter()
            second.encode(texts, batch_size=args.batch_size)
            cached.append(time.perf_counter() - start)
            assert second.last_encoded == 0
            second.close()
            first.close()

    for name, times in (("cold (encode + write cache)", cold), ("cached second run", cached)):
        best, median = min(times), statistics.median(times)
        print(
            f"{name}: median {median:.3f} s = {len(texts) / median:,.0f} texts/s "
            f"(best {len(texts) / best:,.0f} texts/s, {len(times)} runs)"
        )


if __name__ == "__main__":
    main()
