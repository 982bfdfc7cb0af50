"""Benchmark runner: a list of (dataset, model, params) on fixed splits, one Markdown table.

A benchmark is described by a TOML file (see ``bench/configs/`` for examples)::

    title = "Gowalla (LightGCN split)"
    section = "bench-gowalla"          # marker of the BENCHMARKS.md section to (re)write
    k = [20]

    [[datasets]]
    name = "gowalla"
    train = "../shared/data/gowalla/train.txt"
    test = "../shared/data/gowalla/test.txt"
    valid_users = 5000                 # validation carve-out of train (see BenchDataset)

    [[runs]]
    dataset = "gowalla"
    model = "graph-filter"
    params = { rank = 256, alpha = 0.3 }

    [[references]]
    dataset = "gowalla"
    name = "LightGCN (He et al., SIGIR 2020)"
    recall = 0.1830
    ndcg = 0.1554

Every run executes in a fresh process, so that its peak memory (maximum resident set) is its
own and one run's caches cannot speed up the next. Relative paths in the file are resolved
against the file's directory first, then the current directory.
"""

from __future__ import annotations

import logging
import multiprocessing
import platform
import resource
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class BenchDataset:
    """One dataset and the fixed split every run on it uses."""

    name: str
    """Key that runs and references use to name this dataset."""
    train: str
    """Interactions: a bundled name (``ml-100k``) or a path any :func:`load_dataset` reads."""
    test: str | None = None
    """A separate test file (e.g. LightGCN ``test.txt``). Without it, ``train`` is split with
    ``split``/``valid_share``/``test_share``/``seed``."""
    split: str = "random"
    """Split method when there is no ``test`` file (see :func:`lgrec.data.splits.split`)."""
    valid_share: float = 0.1
    """Validation share of the split when there is no ``test`` file."""
    test_share: float = 0.1
    """Test share of the split when there is no ``test`` file."""
    valid_users: int = 5000
    """With a ``test`` file: validation is carved out of ``train`` by taking ``valid_fraction``
    of the interactions of this many random users (0: no validation, fixed epochs). Test
    ranking masks all of ``train``, carve-out included, as the LightGCN protocol does."""
    valid_fraction: float = 0.2
    """Share of each chosen user's training interactions moved to validation."""
    seed: int = 2020
    """Seed of the split or carve-out."""


@dataclass
class BenchRun:
    """One model with its parameters, trained on one dataset's split."""

    dataset: str
    """Name of a :class:`BenchDataset`."""
    model: str
    """Registered model name (``lightgcn``, ``graph-filter``, ...)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Model and training parameters, passed to :class:`Recommender` over the model's preset."""
    label: str | None = None
    """Row label in the table (default: the model name)."""
    seeds: list[int] | None = None
    """Training seeds for this run (default: the config's ``seeds``)."""
    validation: bool = True
    """False: fit once on the whole training file, carve-out included, with no validation
    (fixed ``epochs``), for a setting and epoch count chosen on the carve-out beforehand."""


@dataclass
class Reference:
    """A published figure printed beside lgrec's for comparison."""

    dataset: str
    name: str
    recall: float
    ndcg: float
    note: str = ""


@dataclass
class BenchConfig:
    """A whole benchmark: datasets, runs, published references, where the table goes."""

    title: str
    datasets: list[BenchDataset]
    runs: list[BenchRun]
    section: str = "bench"
    """BENCHMARKS.md is rewritten between ``<!-- section:start -->`` and ``<!-- section:end -->``."""
    k: list[int] = field(default_factory=lambda: [20])
    """Cut-offs of Recall and NDCG in the table."""
    references: list[Reference] = field(default_factory=list)
    target: str | None = None
    """Name of the reference whose distance (lgrec minus it) each row shows."""
    notes: str = ""
    """Free text printed under the table."""
    seeds: list[int] = field(default_factory=list)
    """Training seeds: each run is fitted once per seed (the split stays fixed) and the table
    gives the mean and standard deviation; empty: one fit with the run's own ``seed``."""

    @classmethod
    def from_toml(cls, path: str | Path) -> BenchConfig:
        path = Path(path)
        raw = tomllib.loads(path.read_text())
        base = path.resolve().parent

        def resolve(value: str | None) -> str | None:
            if value is None or "/" not in value and "." not in value:
                return value  # a bundled name
            candidate = base / value
            return str(candidate) if candidate.exists() else value

        def build(kind: type, values: dict[str, Any], where: str) -> Any:
            known = {f.name for f in fields(kind)}
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"{path}: {where}: unknown key(s) {', '.join(sorted(unknown))}")
            return kind(**values)

        datasets = []
        for i, entry in enumerate(raw.get("datasets", [])):
            data = build(BenchDataset, entry, f"datasets[{i}]")
            data.train = resolve(data.train) or data.train
            data.test = resolve(data.test)
            datasets.append(data)
        runs = [build(BenchRun, e, f"runs[{i}]") for i, e in enumerate(raw.get("runs", []))]
        refs = [build(Reference, e, f"references[{i}]")
                for i, e in enumerate(raw.get("references", []))]
        names = {d.name for d in datasets}
        for i, run in enumerate(runs):
            if run.dataset not in names:
                raise ValueError(f"{path}: runs[{i}]: unknown dataset {run.dataset!r}")
        top = {k: v for k, v in raw.items() if k not in {"datasets", "runs", "references"}}
        return build(cls, {**top, "datasets": datasets, "runs": runs, "references": refs},
                     "top level")


def load_split(spec: BenchDataset) -> tuple[Any, Any, Any, Any]:
    """``(train, valid, test, seen)``: the datasets of the fixed split, and the dataset whose
    items test ranking masks (``train`` and ``valid`` together)."""
    from lgrec.data import load_dataset

    if spec.test is None:
        full = load_dataset(spec.train)
        train, valid, test = full.split(
            spec.split, valid=spec.valid_share, test=spec.test_share, seed=spec.seed
        )
        return train, valid, test, None
    full = load_dataset(spec.train)
    test = load_dataset(spec.test)
    if spec.valid_users <= 0:
        return full, None, test, full
    rng = np.random.default_rng(spec.seed)
    users = full.users_array
    chosen = np.zeros(full.n_users, dtype=bool)
    chosen[rng.choice(full.n_users, min(spec.valid_users, full.n_users), replace=False)] = True
    held = chosen[users] & (rng.random(len(users)) < spec.valid_fraction)
    return full.subset(~held, "train"), full.subset(held, "valid"), test, full


def run_one(spec: BenchDataset, run: BenchRun, k: list[int]) -> dict[str, Any]:
    """Fit and evaluate one run in this process; returns its row of figures."""
    import torch

    from lgrec.recommend import Recommender
    from lgrec.recommend.presets import preset

    train, valid, test, seen = load_split(spec)
    if not run.validation:
        train, valid = (seen if seen is not None else train), None
    params = {**preset(run.model), "progress": False, **run.params}
    rec = Recommender(run.model, **params)
    started = time.perf_counter()
    rec.fit(train, valid=valid)
    fit_seconds = time.perf_counter() - started
    if seen is not None:
        rec.seen_ = seen.csr().astype(bool).astype(np.float32).tocsr()
    started = time.perf_counter()
    metrics = rec.evaluate(test, k=k, metrics=("recall", "ndcg"))
    eval_seconds = time.perf_counter() - started
    test_users = len(np.unique(test.users_array))
    return {
        "dataset": spec.name,
        "label": run.label or run.model,
        "model": run.model,
        "params": run.params,
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "eval_seconds": eval_seconds,
        "eval_users_per_second": test_users / eval_seconds if eval_seconds > 0 else float("inf"),
        "test_users": test_users,
        "epochs": getattr(rec, "epochs_", 0),
        "best_epoch": getattr(rec, "best_epoch_", 0),
        "refit_seconds": getattr(rec, "refit_seconds_", 0.0),
        "refit_epochs": getattr(rec, "refit_epochs_", 0),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "device": str(params.get("device", "cpu")),
        "peak_gpu_mib": (torch.cuda.max_memory_allocated() / 2**20
                         if torch.cuda.is_available() else None),
        "run_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_description(),
        "valid_metrics": _best_validation(rec),
        "valid_curve": _validation_curve(rec),
        "validation": run.validation,
        "train_interactions": len(train),
        "valid_interactions": len(valid) if valid is not None else 0,
    }


def _validation_curve(rec: Any, keep: tuple[str, ...] = ("ndcg@10", "ndcg@20", "recall@20")
                      ) -> list[dict[str, float]]:
    """Per validation: epoch, seconds since training began and a few metrics (what a time
    budget and a stopping rule are judged by)."""
    return [{"epoch": r["epoch"], "elapsed_s": round(r["elapsed_s"], 1),
             **{m: r["metrics"][m] for m in keep if m in r["metrics"]}}
            for r in getattr(rec, "history_", []) if "metrics" in r]


def _best_validation(rec: Any) -> dict[str, float]:
    """The validation metrics of the kept (best) epoch, or the closed-form model's own."""
    for record in getattr(rec, "history_", []):
        if record.get("epoch") == getattr(rec, "best_epoch_", None) and "metrics" in record:
            return dict(record["metrics"])
    return dict(getattr(rec, "metrics_", {}).get("valid", {}))


def run_benchmark(config: BenchConfig, *, isolate: bool = True) -> list[dict[str, Any]]:
    """Every run of ``config`` (once per training seed), each fit in a fresh process unless
    ``isolate`` is false; one row per run, averaged over its seeds."""
    specs = {d.name: d for d in config.datasets}
    rows = []
    for run in config.runs:
        seeds = run.seeds if run.seeds is not None else config.seeds
        fits = []
        for seed in seeds or [None]:
            params = run.params if seed is None else {**run.params, "seed": seed}
            one = replace(run, params=params, seeds=None)
            log.info("bench: %s on %s %s", run.model, run.dataset, params)
            if isolate:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(
                    1, mp_context=context, initializer=_log_like,
                    initargs=(logging.getLogger().getEffectiveLevel(),),
                ) as pool:
                    row = pool.submit(run_one, specs[run.dataset], one, config.k).result()
            else:
                row = run_one(specs[run.dataset], one, config.k)
            log.info("bench: %s", {m: round(v, 4) for m, v in row["metrics"].items()})
            fits.append(row)
        rows.append(fits[0] if seeds == [] else average_fits(fits, run.params, seeds))
    return rows


def merge_rows(runs: list[BenchRun], fresh: list[dict[str, Any]],
               kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``runs`` in config order: a freshly run row where there is one, else the
    kept row with the same dataset and label (rows of runs no longer configured are dropped;
    a configured run with neither is an error)."""
    def key(row_or_run: Any) -> tuple[str, str]:
        if isinstance(row_or_run, BenchRun):
            return row_or_run.dataset, row_or_run.label or row_or_run.model
        return row_or_run["dataset"], row_or_run["label"]

    fresh_rows = {key(r): r for r in fresh}
    kept_rows = {key(r): dict(r, kept=True) for r in kept}
    merged = []
    for run in runs:
        row = fresh_rows.get(key(run)) or kept_rows.get(key(run))
        if row is None:
            raise ValueError(f"no kept row for {key(run)[1]!r} on {key(run)[0]!r}; rerun it too")
        merged.append(row)
    return merged


def average_fits(fits: list[dict[str, Any]], params: dict[str, Any],
                 seeds: list[int]) -> dict[str, Any]:
    """One row from fits of the same run under several seeds: means, with the metrics'
    sample standard deviations and every fit kept under ``fits``."""
    row = dict(fits[0], params=params, seeds=list(seeds), fits=fits)
    for key in ("fit_seconds", "eval_seconds", "eval_users_per_second"):
        row[key] = float(np.mean([f[key] for f in fits]))
    row["peak_rss_mib"] = max(f["peak_rss_mib"] for f in fits)
    row["metrics"] = {m: float(np.mean([f["metrics"][m] for f in fits])) for m in row["metrics"]}
    row["metrics_sd"] = {
        m: float(np.std([f["metrics"][m] for f in fits], ddof=1)) if len(fits) > 1 else 0.0
        for m in row["metrics"]
    }
    return row


def _log_like(level: int) -> None:
    """Give a run's fresh process the parent's log level, so its training progress shows."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "preset"


def markdown_table(config: BenchConfig, rows: list[dict[str, Any]], command: str) -> str:
    """The BENCHMARKS.md section: machine, protocol, one row per run, references, best model."""
    from lgrec.recommend.presets import preset

    k = config.k
    heads = [f"Recall@{c}" for c in k] + [f"NDCG@{c}" for c in k]
    keys = [f"recall@{c}" for c in k] + [f"ndcg@{c}" for c in k]
    target = next((r for r in config.references if r.name == config.target), None)
    lines = [
        f"## {config.title}",
        "",
        f"Command: `{command}`  ",
        f"Run: {_run_dates(rows)}  ",
        f"Machine: {_machines(rows)}",
        "",
    ]
    for spec in config.datasets:
        if spec.test is not None:
            carve = (f"validation = {spec.valid_fraction:.0%} of the training interactions of "
                     f"{spec.valid_users} random users (seed {spec.seed}), carved out of the "
                     "training file; early stopping and every hyperparameter were chosen on it, "
                     "never on the test file" if spec.valid_users > 0 else "no validation")
            lines.append(f"- **{spec.name}**: train `{Path(spec.train).name}`, test "
                         f"`{Path(spec.test).name}`; {carve}. Full ranking over all items with "
                         "every training item masked; metrics averaged over test users.")
        else:
            lines.append(f"- **{spec.name}**: `{spec.train}`, {spec.split} split "
                         f"{1 - spec.valid_share - spec.test_share:.0%}/{spec.valid_share:.0%}/"
                         f"{spec.test_share:.0%}, seed {spec.seed}.")
    lines.append("")
    header = ["dataset", "model", *heads, "fit time", "epochs (best)", "eval users/s",
              "peak RSS"]
    if target is not None:
        header.insert(2 + len(heads), f"vs {target.name} (R / N)")
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    for row in rows:
        values = [f"{row['metrics'].get(key, float('nan')):.4f}" for key in keys]
        if "metrics_sd" in row:
            values = [f"{v} ± {row['metrics_sd'].get(key, float('nan')):.4f}"
                      for v, key in zip(values, keys, strict=True)]
        fits = row.get("fits", [row])
        epochs = _epochs_cell(fits)
        label = row["label"] + (" †" if row.get("kept") else "")
        cells = [row["dataset"], label, *values, _duration(row["fit_seconds"]), epochs,
                 f"{row['eval_users_per_second']:,.0f}", _memory(row)]
        if target is not None:
            if row["dataset"] == target.dataset and f"recall@{k[0]}" in row["metrics"]:
                cells.insert(2 + len(heads),
                             f"{row['metrics'][f'recall@{k[0]}'] - target.recall:+.4f} / "
                             f"{row['metrics'][f'ndcg@{k[0]}'] - target.ndcg:+.4f}")
            else:
                cells.insert(2 + len(heads), "")
        lines.append("| " + " | ".join(cells) + " |")
    for ref in config.references:
        cells = [ref.dataset, f"*{ref.name}* (published)", f"{ref.recall:.4f}"]
        cells += [""] * (len(k) - 1) + [f"{ref.ndcg:.4f}"] + [""] * (len(k) - 1)
        if target is not None:
            cells.append(f"{ref.recall - target.recall:+.4f} / {ref.ndcg - target.ndcg:+.4f}")
        cells += [ref.note or "", "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    kept = [r for r in rows if r.get("kept")]
    if kept:
        lines += ["", "† kept from an earlier run of this config (`--keep-rows`): "
                  + "; ".join(f"{r['label']} ({r.get('run_at', 'date not recorded')})"
                              for r in kept) + "."]
    lines.append("")
    for name in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == name and f"ndcg@{k[0]}" in r["metrics"]]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["metrics"][f"ndcg@{k[0]}"])
        beaten = [ref.name for ref in config.references if ref.dataset == name
                  and best["metrics"][f"recall@{k[0]}"] >= ref.recall
                  and best["metrics"][f"ndcg@{k[0]}"] >= ref.ndcg]
        lines.append(
            f"Best lgrec model on {name} by NDCG@{k[0]}: **{best['label']}** "
            f"(Recall@{k[0]} {best['metrics'][f'recall@{k[0]}']:.4f}, NDCG@{k[0]} "
            f"{best['metrics'][f'ndcg@{k[0]}']:.4f}, fitted in {_duration(best['fit_seconds'])}); "
            f"at or above both figures of: {', '.join(beaten) if beaten else 'none of the references'}."
        )
    lines += ["", "Parameters of each row (over the model's preset in `lgrec/recommend/presets.py`):", ""]
    for row in rows:
        merged = {**preset(row["model"]), **row["params"]}
        unvalidated = ("; no validation: fitted once on the whole training file"
                       if row.get("validation") is False else "")
        lines.append(f"- {row['dataset']} / {row['label']}: {_params_text(merged)}{unvalidated}")
    seeded = sorted({tuple(r["seeds"]) for r in rows if "seeds" in r})
    if seeded:
        lines += ["", "Rows fitted under several training seeds ("
                  + "; ".join(", ".join(map(str, s)) for s in seeded)
                  + ", the split fixed) give the mean ± sample standard deviation of each "
                  "metric, the mean fit time and eval rate, the highest peak RSS, and every "
                  "fit's epochs."]
    lines += [
        "",
        "*fit time* is the whole `Recommender.fit` (graph build, training, validation passes, "
        "final vectors, and for a row marked *refit* the second fit on the training and "
        "validation interactions together, for the best epoch count, which gives the model "
        "tested); *eval users/s* is full-ranking test evaluation (score every item, mask "
        "training items, partial sort) divided over test users; *peak RSS* is the run's own "
        "process (each run is a fresh process), with the peak GPU memory torch allocated in "
        "brackets for a run on CUDA.",
    ]
    if config.notes:
        lines += ["", config.notes.strip()]
    return "\n".join(lines) + "\n"


def _epochs_cell(fits: list[dict[str, Any]]) -> str:
    """Epochs run and (best), per fit (no best without validation); a refit adds the epochs
    of its second fit."""
    if not fits[0]["epochs"]:
        return "closed form" + (", refit" if fits[0].get("refit_seconds") else "")
    return ", ".join(
        f"{f['epochs']}" + (f" ({f['best_epoch']})" if f.get("best_epoch") else "")
        + (f" + refit {f['refit_epochs']}" if f.get("refit_epochs") else "")
        for f in fits)


def _run_dates(rows: list[dict[str, Any]]) -> str:
    """When the rows were run, from their own stamps (now, for rows without one)."""
    stamps = sorted(r["run_at"] for r in rows if r.get("run_at"))
    if not stamps:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return stamps[0] if stamps[0] == stamps[-1] else f"{stamps[0]} to {stamps[-1]}"


def _machines(rows: list[dict[str, Any]]) -> str:
    """The machine(s) the rows were run on, as they recorded it; where they ran on more than
    one, which rows ran on each. Rows saved before rows recorded their machine say so."""
    if not rows:
        return machine_description()
    labels: dict[str, list[str]] = {}
    for row in rows:
        labels.setdefault(row.get("machine") or "not recorded", []).append(row["label"])
    if len(labels) == 1:
        return next(iter(labels))
    return "; ".join(f"{machine} (rows: {', '.join(names)})" for machine, names in labels.items())


def _memory(row: dict[str, Any]) -> str:
    """Peak RSS, and the peak of GPU memory allocated by torch for a run on CUDA."""
    text = f"{row['peak_rss_mib'] / 1024:.2f} GiB"
    if str(row.get("device", "cpu")).startswith("cuda") and row.get("peak_gpu_mib") is not None:
        text += f" (GPU {row['peak_gpu_mib'] / 1024:.2f} GiB)"
    return text


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def machine_description() -> str:
    """CPU model and whether it has bfloat16 products (which decides the speed of the
    ``softmax`` loss, :mod:`lgrec.train.precision`: two CPUs of the same model name may differ),
    usable cores, memory, Python and torch versions, GPU when torch sees one."""
    import os

    import torch

    from lgrec.train.precision import native_bfloat16

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU only"
    cpu += f" ({'with' if native_bfloat16('cpu') else 'without'} bfloat16 products)"
    return (f"{cpu}, {cores} cores{memory}{gpu}, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def write_section(path: str | Path, name: str, body: str) -> Path:
    """Replace (or append) the part of ``path`` between ``<!-- name:start -->`` and
    ``<!-- name:end -->`` with ``body``."""
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# lgrec benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
