"""How popular the items of a bench split's train, validation and test interactions are.

For each part: the mean and median training degree of the item of every interaction, and the
share of interactions whose item is among the 1% most-interacted training items. Validation
that looks like test on these figures predicts test well; where test leans to popular items
more than validation does, a model that ranks popular items higher (dot-product scores, whose
vector norms carry popularity) does better on test than validation says, and one that ranks
them lower (cosine scores) does worse.

    python bench/split_popularity.py bench/configs/gowalla.toml gowalla
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lgrec.eval.benchmark import BenchConfig, load_split  # noqa: E402


def training_index(part, train) -> np.ndarray:
    """The training item index of each interaction of ``part`` (-1 for items train lacks)."""
    external = part.item_ids.to_external(part.items_array)
    return train.item_ids.lookup(external)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("dataset")
    args = parser.parse_args()
    spec = next(d for d in BenchConfig.from_toml(args.config).datasets if d.name == args.dataset)
    train, valid, test, _ = load_split(spec)
    degree = np.bincount(train.items_array, minlength=train.n_items).astype(np.float64)
    top = degree >= np.quantile(degree, 0.99)
    print(f"{args.dataset}: training degree of the item of each interaction")
    print("part        interactions   mean   median   share in top-1% items")
    for name, part in (("train", train), ("validation", valid), ("test", test)):
        if part is None:
            continue
        items = training_index(part, train)
        items = items[items >= 0]
        print(f"{name:<11} {len(items):>12,} {degree[items].mean():>6.1f} "
              f"{np.median(degree[items]):>8.0f}   {top[items].mean():>8.3f}")


if __name__ == "__main__":
    main()
