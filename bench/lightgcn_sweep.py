"""Validation-only sweep of LightGCN settings on the Gowalla split of bench/configs/gowalla.toml.

Every setting is capped at the number of gradient steps the 2-core CPU affords in the Gowalla
table's 15-minute budget (13 epochs at batch 8192, ~1,300 full-graph propagations), so that
a GPU can say in minutes which settings are worth a CPU run. Prints the validation NDCG@10
curve of each setting (the test file is never read) and writes them to a JSON file.

    python bench/lightgcn_sweep.py --device cuda --json bench/results/lightgcn_sweep.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lgrec import Recommender  # noqa: E402
from lgrec.eval.benchmark import BenchConfig, load_split  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "gowalla.toml"
BASE = dict(dim=64, layers=3, loss="infonce", negatives=2048, shared_negatives=True,
            temperature=0.2, lr=0.005, reg=0.0, batch_size=8192, eval_every=1, patience=20,
            progress=False)
TRIES = {
    "spectral": dict(init="spectral"),
    "spectral lr.002": dict(init="spectral", lr=0.002),
    "spectral tau.1": dict(init="spectral", temperature=0.1),
    "normal tau.1": dict(temperature=0.1),
    "normal lr.002 neg4096": dict(lr=0.002, negatives=4096),
    "spectral xsimgcl": dict(init="spectral", cl_weight=0.05, noise_eps=0.1, cl_temperature=0.2),
    "normal tau.1 lr.01": dict(temperature=0.1, lr=0.01),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=13)
    parser.add_argument("--only", nargs="*", default=None, help="Names of TRIES to run.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    spec = next(d for d in BenchConfig.from_toml(CONFIG).datasets if d.name == "gowalla")
    train, valid, _, _ = load_split(spec)
    curves = {}
    for name, override in TRIES.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        params = {**BASE, **override, "epochs": args.epochs, "device": args.device}
        rec = Recommender("lightgcn", **params).fit(train, valid=valid)
        curve = [round(r["metrics"]["ndcg@10"], 4) for r in rec.history_]
        curves[name] = curve
        best = max(curve)
        print(f"{name}: {time.perf_counter() - started:.0f}s, best valid NDCG@10 {best} at "
              f"epoch {curve.index(best) + 1}: {curve}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(curves, indent=1))


if __name__ == "__main__":
    main()
