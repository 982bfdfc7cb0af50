"""lgrec against RecBole 1.2.1 on the same split of the bundled MovieLens-100K.

    .venv/bin/python bench/recbole_compare.py                # full run (RecBole takes a while)
    .venv/bin/python bench/recbole_compare.py --reuse-recbole  # keep RecBole results of this split

What it does:

1. loads the bundled MovieLens-100K with lgrec (all 100,000 ratings as implicit positives) and
   splits it per user at random, 80/10/10, seed 2020 (``ds.split("random", ...)``);
2. writes that split as RecBole benchmark files (``ml100k-lgrec.{train,valid,test}.inter``) under
   ``bench/_work/recbole-compare/``;
3. makes RecBole's virtual environment with ``bench/recbole/setup.sh`` if it is missing, and runs
   ``bench/recbole/run_recbole.py`` in it for LightGCN and BPR (RecBole's defaults: Adam lr 0.001,
   batch 2048, embedding 64, LightGCN 2 layers, early stopping after 10 validations without gain,
   validation NDCG@10 every epoch, full ranking, test on the best-validation checkpoint);
4. trains lgrec's ``lightgcn`` and ``mf`` on the same train/valid parts and notes when lgrec's
   validation NDCG@10 first reaches RecBole's best validation NDCG@10 (both rounded to RecBole's
   4 decimals);
5. writes its section of ``BENCHMARKS.md`` between ``<!-- recbole-compare:start -->`` and
   ``<!-- recbole-compare:end -->``, leaving the rest of the file alone.

Both tools rank every item for every user. Validation masks the user's training items; test
masks training and validation items (RecBole does this for benchmark files; lgrec is asked to do
the same). Both run on the CPU with 2 threads, one process at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RECBOLE_DIR = BENCH / "recbole"
RECBOLE_VENV = BENCH / ".venv-recbole"
WORK = BENCH / "_work" / "recbole-compare"
SPLIT_NAME = "ml100k-lgrec"
START = "<!-- recbole-compare:start -->"
END = "<!-- recbole-compare:end -->"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load_atomic():
    """bench/recbole/atomic.py, loaded by path (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_recbole_atomic", RECBOLE_DIR / "atomic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


write_benchmark_files = _load_atomic().write_benchmark_files

# lgrec model -> the RecBole model it is compared with
PAIRS = {"lightgcn": "LightGCN", "mf": "BPR"}
TEST_COLUMNS = ["ndcg@10", "recall@10", "ndcg@20", "recall@20", "precision@10", "hit@10", "mrr@10"]


# ----------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[recbole-compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def first_reaching(history: list[dict], target: float, metric: str = "ndcg@10") -> dict | None:
    """The first validation whose ``metric`` (rounded like RecBole, 4 places) reaches ``target``."""
    for rec in history:
        if round(float(rec["metrics"][metric]), 4) >= round(target, 4) - 1e-12:
            return rec
    return None


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


def fmt_x(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1f}×"


# ----------------------------------------------------------------------------- data
def make_split(seed: int):
    from lgrec.data import load_movielens100k

    ds = load_movielens100k()
    train, valid, test = ds.split("random", valid=0.1, test=0.1, seed=seed)
    return ds, train, valid, test


def to_recbole_frame(part) -> Any:
    """A lgrec split part as a frame with RecBole's column names and external ids."""
    frame = part.interactions
    out = frame[["user", "item"]].copy()
    out["user_id"] = part.user_ids.to_external(frame["user"].to_numpy())
    out["item_id"] = part.item_ids.to_external(frame["item"].to_numpy())
    out["rating"] = frame["rating"].to_numpy() if "rating" in frame else 1.0
    out["timestamp"] = frame["timestamp"].to_numpy() if "timestamp" in frame else 0.0
    return out[["user_id", "item_id", "rating", "timestamp"]]


def export_split(train, valid, test, directory: Path) -> str:
    write_benchmark_files(
        directory,
        SPLIT_NAME,
        to_recbole_frame(train),
        to_recbole_frame(valid),
        to_recbole_frame(test),
    )
    files = [directory / f"{SPLIT_NAME}.{s}.inter" for s in ("train", "valid", "test")]
    return fingerprint(files)


# ----------------------------------------------------------------------------- RecBole side
def ensure_recbole_venv() -> Path:
    python = RECBOLE_VENV / "bin" / "python"
    if not python.exists():
        log(f"no RecBole venv at {RECBOLE_VENV}: running bench/recbole/setup.sh (a few minutes)")
        subprocess.run(["bash", str(RECBOLE_DIR / "setup.sh")], check=True)
    return python


def run_recbole(model: str, data_dir: Path, split_fp: str, args: argparse.Namespace) -> dict:
    out = WORK / f"recbole-{model}.json"
    if args.reuse_recbole and out.exists():
        cached = json.loads(out.read_text())
        if (
            cached.get("split_fingerprint") == split_fp
            and cached.get("epochs_cap") == args.epochs
            and cached.get("config", {}).get("stopping_step") == args.recbole_stopping_step
        ):
            log(f"RecBole {model}: reusing {out.relative_to(ROOT)} (same split)")
            return cached
    python = ensure_recbole_venv()
    cmd = [
        str(python),
        str(RECBOLE_DIR / "run_recbole.py"),
        "--data-dir",
        str(data_dir),
        "--model",
        model,
        "--out",
        str(out),
        "--epochs",
        str(args.epochs),
        "--stopping-step",
        str(args.recbole_stopping_step),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
        "--work-dir",
        str(WORK / f"recbole-run-{model}"),
    ]
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)
    log(f"RecBole {model}: training (log in {WORK.relative_to(ROOT)}/recbole-{model}.log)")
    load_before = os.getloadavg()[0]
    with open(WORK / f"recbole-{model}.log", "w") as fh:
        started = time.perf_counter()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (WORK / f"recbole-{model}.log").read_text()[-3000:]
        raise SystemExit(f"RecBole {model} failed (exit {proc.returncode}):\n{tail}")
    report = json.loads(out.read_text())
    report["split_fingerprint"] = split_fp
    report["epochs_cap"] = args.epochs
    report["process_wall_s"] = wall
    report["load_avg_1min"] = [load_before, os.getloadavg()[0]]
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(
        f"RecBole {model}: {report['epochs_run']} epochs, fit {report['time_s']['fit']:.1f}s, "
        f"best valid ndcg@10 {report['best_valid_ndcg@10']:.4f} at {report['best_valid_elapsed_s']:.1f}s, "
        f"test ndcg@10 {report['test_metrics']['ndcg@10']:.4f}"
    )
    return report


# ----------------------------------------------------------------------------- lgrec side
def lgrec_options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from lgrec import Recommender
    from lgrec.recommend.presets import preset

    # lgrec's presets (chosen on validation), with the shared size and budget on top.
    opts: dict[str, Any] = {**preset(name), "dim": args.dim, "epochs": args.epochs,
                            "seed": args.seed}
    if name == "lightgcn":
        opts["layers"] = args.layers
    for item in args.lgrec_opt:
        key, _, value = item.partition("=")
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    # Pass only what this lgrec's Recommender takes (explicitly or through **options).
    params = inspect.signature(Recommender.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        dropped = [k for k in opts if k not in params]
        for k in dropped:
            log(f"lgrec {name}: Recommender takes no {k!r}, leaving it out")
            opts.pop(k)
    if "progress" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        opts.setdefault("progress", False)
    return opts


def history_of(rec) -> list[dict]:
    hist = getattr(rec, "history_", None)
    if hist is None:
        trainer = getattr(rec, "trainer_", None)
        hist = getattr(trainer, "history_", None)
    if hist is None:
        raise SystemExit("lgrec Recommender exposes no history_ after fit; cannot time it")
    return [h for h in hist if "metrics" in h]


def evaluate_test(rec, train, valid, test) -> tuple[dict, str]:
    """Test metrics with training and validation items masked, like RecBole.

    lgrec's ``Recommender.evaluate`` masks what ``fit`` saw: the training items and, when a
    validation set was given, the validation items too. That is checked here, not assumed.
    """
    metrics = dict(rec.evaluate(test, k=[10, 20]))
    seen = getattr(rec, "seen_", None)
    if seen is None:
        return metrics, "unknown (Recommender has no seen_)"
    expected = train.csr() + valid.csr()
    expected.data[:] = 1.0
    same = seen.shape == expected.shape and (seen != expected).nnz == 0
    return metrics, "train + valid items" if same else f"NOT train + valid ({seen.nnz} items)"


def run_lgrec(name: str, train, valid, test, target: float, args: argparse.Namespace) -> dict:
    import torch

    from lgrec import Recommender

    torch.set_num_threads(args.threads)
    opts = lgrec_options(name, args)
    log(f"lgrec {name}: training with {opts}")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rec = Recommender(name, **opts).fit(train, valid=valid)
    fit_s = time.perf_counter() - started
    history = history_of(rec)
    t0 = time.perf_counter()
    test_metrics, masking = evaluate_test(rec, train, valid, test)
    test_s = time.perf_counter() - t0
    best = max(history, key=lambda h: h["metrics"]["ndcg@10"]) if history else None
    reach = first_reaching(history, target)
    report = {
        "model": name,
        "options": opts,
        "epochs_run": history[-1]["epoch"] if history else None,
        "fit_s": fit_s,
        "load_avg_1min": [load_before, os.getloadavg()[0]],
        "test_s": test_s,
        "best_valid_ndcg@10": best["metrics"]["ndcg@10"] if best else None,
        "best_valid_epoch": best["epoch"] if best else None,
        "best_valid_elapsed_s": best["elapsed_s"] if best else None,
        "target_ndcg@10": target,
        "reach_epoch": reach["epoch"] if reach else None,
        "reach_elapsed_s": reach["elapsed_s"] if reach else None,
        "test_metrics": {k.lower(): float(v) for k, v in test_metrics.items()},
        "test_masking": masking,
        "train_config": rec.train_config_.to_dict() if hasattr(rec, "train_config_") else None,
        "valid_curve": [
            {"epoch": h["epoch"], "elapsed_s": h["elapsed_s"], "ndcg@10": h["metrics"]["ndcg@10"]}
            for h in history
        ],
    }
    (WORK / f"lgrec-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    log(
        f"lgrec {name}: fit {fit_s:.1f}s, best valid ndcg@10 {report['best_valid_ndcg@10']:.4f}, "
        f"reached RecBole's {target:.4f} at "
        + (f"{reach['elapsed_s']:.1f}s (epoch {reach['epoch']})" if reach else "never")
        + f", test ndcg@10 {report['test_metrics'].get('ndcg@10', float('nan')):.4f}"
    )
    return report


# ----------------------------------------------------------------------------- report
def lgrec_version() -> str:
    try:
        from importlib.metadata import version

        return version("lgrec")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "source tree"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def settings_lines(results: list[tuple[dict, dict]]) -> list[str]:
    out = []
    for lg, rb in results:
        c = rb["config"]
        layers = f", {c['n_layers']} layers" if c.get("n_layers") else ""
        neg = c["train_neg_sample_args"]
        reg = f", reg_weight {c['reg_weight']}" if c.get("reg_weight") is not None else ""
        out.append(
            f"RecBole {rb['model']}: embedding {c['embedding_size']}{layers}, Adam lr "
            f"{c['learning_rate']}, batch {c['train_batch_size']}{reg}, "
            f"{neg['sample_num']} {neg['distribution']} negative per positive, validation every "
            f"{c['eval_step']} epoch, stopping_step {c['stopping_step']} (stops once "
            f"{c['stopping_step'] + 1} validations in a row bring no gain; a tie counts as a gain), "
            f"at most {c['epochs']} epochs"
        )
        t = lg.get("train_config") or {}
        model_opts = {k: v for k, v in lg["options"].items() if k in ("dim", "layers")}
        out.append(
            f"lgrec {lg['model']}: "
            + ", ".join(f"{k} {v}" for k, v in model_opts.items())
            + (
                f", Adam lr {t.get('lr')}, batch {t.get('batch_size')}, reg {t.get('reg')}, "
                f"loss {t.get('loss')}, validation every {t.get('eval_every')} epoch, patience "
                f"{t.get('patience')} (stops once {t.get('patience')} validations in a row bring "
                f"no strict gain), at most {t.get('epochs')} epochs"
                if t
                else ""
            )
        )
    return out


def load_line(results: list[tuple[dict, dict]]) -> str:
    """How busy the machine was: timings taken on a loaded machine are inflated."""
    cores = usable_cores()
    parts, busy = [], False
    for lg, rb in results:
        for label, pair in (
            (f"RecBole {rb['model']}", rb.get("load_avg_1min")),
            (f"lgrec {lg['model']}", lg.get("load_avg_1min")),
        ):
            if pair:
                parts.append(f"{label} {pair[0]:.1f} → {pair[1]:.1f}")
                busy = busy or max(pair) > cores + 0.5
    if not parts:
        return ""
    text = (
        f"1-minute load average before → after each run ({cores} cores): " + ", ".join(parts) + "."
    )
    if busy:
        text += (
            " **The machine was busy with other work during some runs (load above its core "
            "count), so these times are inflated and noisier than on an idle machine.**"
        )
    return text


def render(
    results: list[tuple[dict, dict]], split_info: dict, args: argparse.Namespace, command: str
) -> str:
    import torch

    rb_any = results[0][1]
    lines = [
        START,
        "## lgrec vs RecBole 1.2.1 (MovieLens-100K, same split)",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, lgrec {lgrec_version()} "
        f"(commit {git_commit()}), RecBole {rb_any['recbole_version']}  ",
        f"Machine: {cpu_model()}, {usable_cores()} cores, {args.threads} torch threads, CPU only; "
        f"torch {torch.__version__} (lgrec) and {rb_any['torch_version']} (RecBole), "
        f"Python {platform.python_version()}",
        "",
        f"Data: the bundled MovieLens-100K, all {split_info['n_total']:,} ratings as implicit positives; "
        f"lgrec's per-user random split 80/10/10, seed {args.seed} "
        f"({split_info['n_train']:,} / {split_info['n_valid']:,} / {split_info['n_test']:,}), "
        "exported as RecBole benchmark files so both tools see the same rows. Full ranking over all "
        f"{split_info['n_items']:,} items; validation masks training items, test masks training and "
        "validation items. Validation NDCG@10 after every epoch drives early stopping in both; "
        "test metrics come from the best-validation model.",
        "",
        "Settings (RecBole: its defaults; lgrec: its defaults plus `dim`, `layers`, `epochs`, `seed`):",
        "",
        *[f"- {line}" for line in settings_lines(results)],
        "",
        "### Test metrics (best-validation model)",
        "",
        "| model | tool | " + " | ".join(TEST_COLUMNS) + " |",
        "|---|---|" + "---:|" * len(TEST_COLUMNS),
    ]
    for lg, rb in results:
        for tool, metrics, label in (
            ("RecBole", rb["test_metrics"], rb["model"]),
            ("lgrec", lg["test_metrics"], lg["model"]),
        ):
            cells = [f"{metrics[c]:.4f}" if c in metrics else "—" for c in TEST_COLUMNS]
            lines.append(f"| {label} | {tool} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Time",
        "",
        "Times are wall-clock seconds from the start of training, validations included. "
        "*Time to RecBole's best* is when validation NDCG@10 (rounded to 4 places, as RecBole "
        "reports it) first reaches the best value RecBole's run of that model ever reached.",
        "",
        "| pair | RecBole epochs | RecBole fit | RecBole best valid NDCG@10 | RecBole time to its best "
        "| lgrec epochs | lgrec fit | lgrec best valid NDCG@10, when | lgrec time to RecBole's best "
        "| speed-up to RecBole's best | speed-up, whole fit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lg, rb in results:
        rb_t = rb["best_valid_elapsed_s"]
        lg_t = lg["reach_elapsed_s"]
        speed = rb_t / lg_t if (rb_t and lg_t) else None
        whole = rb["time_s"]["fit"] / lg["fit_s"] if lg["fit_s"] else None
        reach = f"{fmt_s(lg_t)} (epoch {lg['reach_epoch']})" if lg_t is not None else "not reached"
        lines.append(
            f"| {lg['model']} vs {rb['model']} | {rb['epochs_run']} | {fmt_s(rb['time_s']['fit'])} | "
            f"{rb['best_valid_ndcg@10']:.4f} | {fmt_s(rb_t)} (epoch {rb['best_valid_epoch'] + 1}) | "
            f"{lg['epochs_run']} | {fmt_s(lg['fit_s'])} | {lg['best_valid_ndcg@10']:.4f} at {fmt_s(lg['best_valid_elapsed_s'])} | {reach} | "
            f"{fmt_x(speed)} | {fmt_x(whole)} |"
        )
    masks = {lg["test_masking"] for lg, _ in results}
    lines += [
        "",
        "Epochs are counted from 1 (RecBole's log counts from 0). *lgrec fit* is the whole "
        "`Recommender.fit` call (graph building and final vectors included); *RecBole fit* is its "
        "`Trainer.fit` (saving a checkpoint at every improvement, as RecBole does by default), "
        "without building its dataset and dataloaders, which took "
        + ", ".join(f"{rb['time_s']['data']:.1f} s ({rb['model']})" for _, rb in results)
        + ", nor the test pass, which took "
        + ", ".join(f"{rb['time_s']['test']:.1f} s ({rb['model']})" for _, rb in results)
        + f". lgrec test masking: {', '.join(sorted(masks))}. "
        "Raw results: `bench/_work/recbole-compare/*.json` (not committed).",
        "",
        load_line(results),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="lightgcn,mf", help="lgrec models: lightgcn, mf")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--epochs", type=int, default=300, help="epoch cap for both tools")
    ap.add_argument(
        "--recbole-stopping-step",
        type=int,
        default=10,
        help="RecBole's stopping_step (its default 10: stop at the 11th validation without gain)",
    )
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3, help="lgrec lightgcn layers")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--lgrec-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Recommender option (JSON value), repeatable",
    )
    ap.add_argument(
        "--reuse-recbole",
        action="store_true",
        help="reuse RecBole results already computed on this very split",
    )
    ap.add_argument(
        "--recbole-only",
        action="store_true",
        help="only split and run RecBole (then rerun with --reuse-recbole)",
    )
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = (
        "python bench/recbole_compare.py"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in PAIRS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {list(PAIRS)}")
    WORK.mkdir(parents=True, exist_ok=True)

    ds, train, valid, test = make_split(args.seed)
    data_dir = WORK / SPLIT_NAME
    split_fp = export_split(train, valid, test, data_dir)
    split_info = {
        "n_total": len(ds.interactions),
        "n_train": len(train.interactions),
        "n_valid": len(valid.interactions),
        "n_test": len(test.interactions),
        "n_users": ds.n_users,
        "n_items": ds.n_items,
        "fingerprint": split_fp,
    }
    log(f"split {split_info} written to {data_dir.relative_to(ROOT)}")

    recbole = {m: run_recbole(PAIRS[m], data_dir, split_fp, args) for m in models}
    if args.recbole_only:
        log("--recbole-only: RecBole results kept for --reuse-recbole; BENCHMARKS.md untouched")
        return 0
    results = []
    for m in models:
        rb = recbole[m]
        lg = run_lgrec(m, train, valid, test, rb["best_valid_ndcg@10"], args)
        results.append((lg, rb))

    section = render(results, split_info, args, command)
    write_section(Path(args.output), section)
    log(f"wrote the recbole-compare section of {args.output}")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
