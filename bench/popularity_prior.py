"""Does a split's test file reward popular items more than its validation carve-out does?

Fits one run of a bench config on the carve-out's training part only (no refit), then ranks
validation and test with a popularity prior added to the model's scores,

    score(u, i) + beta * t * log(1 + training degree of i)

(``t`` is the run's temperature, 1 without one, so that ``beta`` is on the scale of the
logits the loss was trained on), for a grid of ``beta``. ``beta = 0`` is the model as fitted.
Where validation and test are drawn alike, both peak at the same ``beta``; where test leans to
popular items, test keeps rising past the ``beta`` validation picks. Validation's pick is the
only one a protocol that never looks at test can make; the test column is a diagnosis, not a
setting to adopt.

    python bench/popularity_prior.py bench/configs/gowalla.toml "lightgcn (full softmax, 15 min)"

Rows go to bench/results/popularity_prior.json (one per config and run) and the section
"popularity-prior" of BENCHMARKS.md is rebuilt from all of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

# lgrec first: it sets OMP_WAIT_POLICY and THP_MEM_ALLOC_ENABLE before torch loads.
import lgrec  # noqa: F401  # isort: skip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, machine, write_section  # noqa: E402

from lgrec.eval.benchmark import BenchConfig, load_split  # noqa: E402
from lgrec.eval.ranking import evaluate_ranking  # noqa: E402
from lgrec.recommend import Recommender  # noqa: E402
from lgrec.recommend.presets import preset  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "popularity_prior.json"
BETAS = (-0.1, 0.0, 0.1, 0.2, 0.3, 0.5)
K = 20


def measure(config_path: Path, label: str, betas: tuple[float, ...]) -> dict[str, Any]:
    config = BenchConfig.from_toml(config_path)
    run = next(r for r in config.runs if (r.label or r.model) == label)
    spec = next(d for d in config.datasets if d.name == run.dataset)
    train, valid, test, seen = load_split(spec)
    if valid is None:
        raise SystemExit(f"{spec.name} has no validation carve-out to compare test with")
    params = {**preset(run.model), "progress": False, **run.params, "refit": False}
    rec = Recommender(run.model, **params)
    started = time.perf_counter()
    rec.fit(train, valid=valid)
    fit_seconds = time.perf_counter() - started

    train_matrix = rec.interaction_matrix(train)
    valid_matrix = rec.interaction_matrix(valid)
    test_matrix = rec.interaction_matrix(test)
    seen_matrix = rec.interaction_matrix(seen) if seen is not None else rec.seen_
    log_degree = torch.log1p(rec.item_degree_)
    temperature = float(params.get("temperature", 1.0))
    model, users, items = rec.model_, rec.user_vectors_, rec.item_vectors_

    rows = []
    for beta in betas:
        prior = beta * temperature * log_degree

        def score(batch: torch.Tensor, prior: torch.Tensor = prior) -> torch.Tensor:
            return model.score_users(batch, users, items) + prior

        figures = {"beta": beta}
        for name, truth, exclude in (("valid", valid_matrix, train_matrix),
                                     ("test", test_matrix, seen_matrix)):
            metrics = evaluate_ranking(score, truth, exclude=exclude, k=(K,),
                                       metrics=("recall", "ndcg")).metrics
            figures[f"{name}_recall"] = metrics[f"recall@{K}"]
            figures[f"{name}_ndcg"] = metrics[f"ndcg@{K}"]
        logging.info("beta %+.2f: %s", beta, figures)
        rows.append(figures)
    return {
        "config": str(config_path), "section": config.section, "dataset": spec.name,
        "label": label,
        "params": run.params, "temperature": temperature, "fit_seconds": fit_seconds,
        "best_epoch": rec.best_epoch_, "rows": rows,
        "command": shlex.join(["python", "bench/popularity_prior.py", *sys.argv[1:]]),
        "run_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
    }


def pick(rows: list[dict[str, Any]], part: str) -> dict[str, Any]:
    return max(rows, key=lambda row: row[f"{part}_ndcg"])


def section(results: list[dict[str, Any]]) -> str:
    lines = [
        "## Popularity prior: does test reward popular items more than validation?",
        "",
        "Each run is fitted on its config's validation carve-out (training part only, no "
        "refit) and ranks validation and test with `score + beta * t * log(1 + training "
        "degree of the item)` added (`t`: the run's temperature). beta = 0 is the model as "
        f"fitted. Recall@{K} / NDCG@{K}; bold: the beta each part peaks at. The protocol "
        "(`bench/popularity_prior.py`) picks by validation only; the test column shows what a "
        "choice made on test would have gained, the size of the shift between the two.",
        "",
    ]
    for result in results:
        rows = result["rows"]
        best_valid, best_test = pick(rows, "valid"), pick(rows, "test")
        lines += [
            f"**{result['dataset']} / {result['label']}** (data and setting: section "
            f"\"{result['section']}\"; `{result['command']}`; "
            f"{result['run_at']}; {result['machine']}; fitted in {result['fit_seconds']:.0f} s, "
            f"best validation epoch {result['best_epoch']})",
            "",
            f"| beta | validation Recall@{K} | validation NDCG@{K} | test Recall@{K} | "
            f"test NDCG@{K} |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            valid_ndcg = f"{row['valid_ndcg']:.4f}"
            test_ndcg = f"{row['test_ndcg']:.4f}"
            if row is best_valid:
                valid_ndcg = f"**{valid_ndcg}**"
            if row is best_test:
                test_ndcg = f"**{test_ndcg}**"
            lines.append(f"| {row['beta']:+.1f} | {row['valid_recall']:.4f} | {valid_ndcg} | "
                         f"{row['test_recall']:.4f} | {test_ndcg} |")
        at_zero = next(row for row in rows if row["beta"] == 0.0)
        lines += [
            "",
            f"Validation peaks at beta {best_valid['beta']:+.1f} (test NDCG@{K} there "
            f"{best_valid['test_ndcg']:.4f}); test would peak at beta {best_test['beta']:+.1f} "
            f"({best_test['test_ndcg']:.4f}, {best_test['test_ndcg'] - at_zero['test_ndcg']:+.4f} "
            f"on the fitted model).",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, nargs="?")
    parser.add_argument("label", nargs="?", help="The run's label (or model name) in the config.")
    parser.add_argument("--betas", type=float, nargs="+", default=list(BETAS))
    parser.add_argument("--from-json", action="store_true",
                        help="Only rebuild the section from the stored rows.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.from_json:
        if args.config is None or args.label is None:
            parser.error("a config and a run label are needed unless --from-json")
        result = measure(args.config, args.label, tuple(args.betas))
        stored[f"{args.config.as_posix()} :: {args.label}"] = result
        RESULTS.write_text(json.dumps(stored, indent=1) + "\n")
    print(write_section("popularity-prior", section(list(stored.values()))))


if __name__ == "__main__":
    main()
