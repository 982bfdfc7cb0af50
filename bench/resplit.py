"""Pool a LightGCN-format split (train.txt + test.txt) and split it again at random.

Each user's interactions, train and test together, are shuffled and cut into
``1 - test_share`` / ``test_share`` (at least one test item for users with two or more), then
written in the same format. The new test file has, by construction, the same item popularity
as the new train file, unlike Gowalla's published test file (`python bench/split_popularity.py`),
so the configs of the Gowalla table can be checked on a split whose validation carve-out is
shaped like its test.

    python bench/resplit.py ../shared/data/gowalla bench/_work/gowalla_resplit --seed 7
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def read_lines(path: Path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields:
            rows.setdefault(fields[0], []).extend(fields[1:])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="Folder with train.txt and test.txt.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    train, test = read_lines(args.source / "train.txt"), read_lines(args.source / "test.txt")
    rng = np.random.default_rng(args.seed)
    train_lines, test_lines = [], []
    for user in sorted(train.keys() | test.keys()):  # sorted: the draw must not follow hashing
        items = np.array(sorted(set(train.get(user, [])) | set(test.get(user, []))))
        rng.shuffle(items)
        share = int(round(len(items) * args.test_share))
        n_test = min(max(share, 1), len(items) - 1) if len(items) >= 2 else 0
        train_lines.append(" ".join([user, *items[n_test:]]))
        if n_test:
            test_lines.append(" ".join([user, *items[:n_test]]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train.txt").write_text("\n".join(train_lines) + "\n")
    (args.out / "test.txt").write_text("\n".join(test_lines) + "\n")
    print(f"{len(train_lines)} users; {sum(len(x.split()) - 1 for x in train_lines)} train and "
          f"{sum(len(x.split()) - 1 for x in test_lines)} test interactions in {args.out}")


if __name__ == "__main__":
    main()
