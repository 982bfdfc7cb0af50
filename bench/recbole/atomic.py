"""RecBole atomic-file helpers shared by the two sides of the RecBole comparison.

Pure numpy/pandas, no lgrec and no RecBole import, so it runs in either virtual environment:

* ``read_atomic(path)`` reads a RecBole atomic file (``name:type`` header) into a DataFrame with
  plain column names;
* ``random_split_per_user(frame, ratios, seed)`` is a per-user random split that cuts each user's
  interactions the way RecBole's ``split_by_ratio`` does (every part but the first rounded down);
* ``write_benchmark_files(out_dir, name, train, valid, test)`` writes ``name.train.inter``,
  ``name.valid.inter`` and ``name.test.inter`` for RecBole's ``benchmark_filename`` option.

Run as a script it makes the reference split used while developing the runner::

    python bench/recbole/atomic.py SOURCE.inter OUT_DIR [--name ml100k-rs] [--seed 2020]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

HEADER = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def read_atomic(path: str | os.PathLike) -> pd.DataFrame:
    """Read a RecBole atomic file; token columns stay strings, float columns become floats."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    renamed = {}
    for col in frame.columns:
        name, _, kind = col.partition(":")
        renamed[col] = name
        if kind == "float":
            frame[col] = pd.to_numeric(frame[col])
    return frame.rename(columns=renamed)


def _split_counts(total: int, ratios: list[float]) -> list[int]:
    """RecBole's ``Dataset._calcu_split_ids``: cut points for one user's ``total`` rows."""
    cnt = [int(ratios[i] * total) for i in range(len(ratios))]
    cnt[0] = total - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return list(np.cumsum(cnt)[:-1])


def random_split_per_user(
    frame: pd.DataFrame,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 2020,
    user_col: str = "user_id",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Shuffle all rows once with ``seed``, then cut every user's rows by ``ratios``."""
    rng = np.random.default_rng(seed)
    shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    parts: list[list[np.ndarray]] = [[], [], []]
    for _, idx in shuffled.groupby(user_col, sort=False).indices.items():
        cuts = _split_counts(len(idx), list(ratios))
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k].append(chunk)
    out = []
    for chunks in parts:
        rows = np.sort(np.concatenate(chunks)) if chunks else np.array([], dtype=int)
        out.append(shuffled.iloc[rows].reset_index(drop=True))
    return out[0], out[1], out[2]


def write_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Write ``user_id, item_id, rating, timestamp`` as a RecBole atomic ``.inter`` file."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: frame lacks columns {missing}; expected {COLUMNS}")
    body = frame[COLUMNS].copy()
    body["user_id"] = body["user_id"].astype(str)
    body["item_id"] = body["item_id"].astype(str)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\t".join(HEADER) + "\n")
        body.to_csv(fh, sep="\t", header=False, index=False)
    os.replace(tmp, path)


def write_benchmark_files(
    out_dir: str | os.PathLike,
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
) -> Path:
    """Write ``out_dir/name.{train,valid,test}.inter`` and return ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for suffix, part in (("train", train), ("valid", valid), ("test", test)):
        write_atomic(out / f"{name}.{suffix}.inter", part)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a RecBole atomic .inter file (all rows become positives)")
    ap.add_argument("out_dir")
    ap.add_argument("--name", default="ml100k-rs")
    ap.add_argument("--seed", type=int, default=2020)
    args = ap.parse_args()
    frame = read_atomic(args.source)
    train, valid, test = random_split_per_user(frame, seed=args.seed)
    write_benchmark_files(args.out_dir, args.name, train, valid, test)
    print(f"{args.out_dir}: train {len(train)}, valid {len(valid)}, test {len(test)}")


if __name__ == "__main__":
    main()
