"""Run one RecBole 1.2.1 model on pre-split benchmark files and write a JSON report.

Runs INSIDE the RecBole virtual environment (``bench/.venv-recbole``, made by ``setup.sh``)::

    bench/.venv-recbole/bin/python bench/recbole/run_recbole.py \
        --data-dir bench/_work/ml100k-rs --model LightGCN --out bench/_work/recbole-LightGCN.json

``--data-dir`` holds ``<name>.train.inter``, ``<name>.valid.inter`` and ``<name>.test.inter``
(``<name>`` defaults to the directory's name) in RecBole's atomic format. RecBole reads them
through its ``benchmark_filename`` option, so it does no splitting of its own: the three files
are the split. Every row is an implicit positive (no rating threshold, no ``val_interval``).

Protocol (RecBole defaults except where the comparison needs something explicit):

* full-sort evaluation, ``eval_args: {split: None-equivalent (benchmark files), group_by: user,
  order: RO, mode: full}``; metrics Recall, NDCG, Precision, Hit, MRR at 10 and 20;
  ``valid_metric: NDCG@10``; validation every epoch (``eval_step: 1``), early stopping after
  ``stopping_step`` (10) validations without improvement, at most ``epochs`` (300) epochs;
* Adam, lr 0.001, ``train_batch_size`` 2048, one uniform negative per positive, embedding 64,
  LightGCN's ``n_layers`` 2 and ``reg_weight`` 1e-5 (RecBole's model defaults);
* CPU only, ``torch.set_num_threads(--threads)`` (2), seed 2020, ``reproducibility: True``;
* test metrics come from the best-validation checkpoint (RecBole's ``load_best_model``).

Masking: at validation RecBole removes the user's training items from the ranking; at test it
removes training *and* validation items (its sampler's ``used_ids`` for a phase is the union of
all phases up to it, and the full-sort loader masks ``used_ids - positives of that phase``).

The report has, per validation, the wall-clock seconds since the start of ``Trainer.fit`` (taken
after the validation finished, so it includes every training and evaluation second before it)
and all validation metrics; plus best valid NDCG@10 and when it was reached, test metrics, and
the time spent loading data, training and testing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# RecBole 1.2.1 calls torch.load() on its own checkpoints without weights_only=False.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import torch  # noqa: E402

METRICS = ["Recall", "NDCG", "Precision", "Hit", "MRR"]
TOPK = [10, 20]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data-dir", required=True, help="directory with NAME.{train,valid,test}.inter"
    )
    ap.add_argument("--name", default=None, help="file stem NAME (default: the directory's name)")
    ap.add_argument("--model", required=True, choices=["LightGCN", "BPR"])
    ap.add_argument("--out", required=True, help="JSON report path")
    ap.add_argument("--embedding-size", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=None, help="LightGCN only (RecBole default 2)")
    ap.add_argument("--reg-weight", type=float, default=None, help="LightGCN only (default 1e-5)")
    ap.add_argument("--learning-rate", type=float, default=0.001)
    ap.add_argument("--train-batch-size", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--stopping-step", type=int, default=10)
    ap.add_argument("--eval-step", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work-dir", default=None, help="where RecBole's log/ and saved/ go")
    ap.add_argument("--quiet", action="store_true", help="only warnings from RecBole's logger")
    return ap.parse_args(argv)


def build_config_dict(args: argparse.Namespace, data_path: str, work_dir: str) -> dict:
    cfg = {
        # data
        "data_path": data_path,
        "benchmark_filename": ["train", "valid", "test"],
        "field_separator": "\t",
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": "rating",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "val_interval": None,
        "threshold": None,
        "rm_dup_inter": None,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        # evaluation
        "eval_args": {
            # With benchmark_filename RecBole takes the three files as the split; it never reads
            # `split`. `order` and `group_by` likewise only matter for its own splitting.
            "split": {"RS": [0.8, 0.1, 0.1]},
            "order": "RO",
            "group_by": "user",
            "mode": "full",
        },
        "metrics": METRICS,
        "topk": TOPK,
        "valid_metric": "NDCG@10",
        "valid_metric_bigger": True,
        "eval_step": args.eval_step,
        "stopping_step": args.stopping_step,
        # training
        "epochs": args.epochs,
        "train_batch_size": args.train_batch_size,
        "learning_rate": args.learning_rate,
        "learner": "adam",
        "embedding_size": args.embedding_size,
        # environment
        "use_gpu": False,
        "gpu_id": "",
        "seed": args.seed,
        "reproducibility": True,
        "show_progress": False,
        "state": "WARNING" if args.quiet else "INFO",
        "checkpoint_dir": os.path.join(work_dir, "saved"),
        "save_dataset": False,
        "save_dataloaders": False,
        "log_wandb": False,
    }
    if args.model == "LightGCN":
        if args.n_layers is not None:
            cfg["n_layers"] = args.n_layers
        if args.reg_weight is not None:
            cfg["reg_weight"] = args.reg_weight
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    name = args.name or data_dir.name
    for suffix in ("train", "valid", "test"):
        f = data_dir / f"{name}.{suffix}.inter"
        if not f.is_file():
            print(f"run_recbole: missing benchmark file {f}", file=sys.stderr)
            return 2
    out_path = Path(args.out).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix=f"recbole-{args.model}-")).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    # init_logger and the tensorboard writer write under the working directory.
    os.chdir(work_dir)

    torch.set_num_threads(args.threads)

    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import get_model, init_logger, init_seed

    class TimedTrainer(Trainer):
        """RecBole's Trainer, recording wall-clock time and metrics at every validation."""

        def fit(self, train_data, valid_data=None, **kwargs):
            self.curve = []
            self.fit_start = time.perf_counter()
            self._epoch_seen = 0
            return super().fit(train_data, valid_data, **kwargs)

        def _train_epoch(self, train_data, epoch_idx, *a, **kw):
            self._epoch_seen = epoch_idx
            return super()._train_epoch(train_data, epoch_idx, *a, **kw)

        def _valid_epoch(self, valid_data, show_progress=False):
            valid_score, valid_result = super()._valid_epoch(valid_data, show_progress)
            self.curve.append(
                {
                    "epoch": int(self._epoch_seen),
                    "elapsed_s": time.perf_counter() - self.fit_start,
                    "ndcg@10": float(valid_result["ndcg@10"]),
                    "metrics": {k: float(v) for k, v in valid_result.items()},
                }
            )
            return valid_score, valid_result

    t_total = time.perf_counter()
    config = Config(
        model=args.model,
        dataset=name,
        config_dict=build_config_dict(args, str(data_dir.parent), str(work_dir)),
    )
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)

    t0 = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    data_s = time.perf_counter() - t0

    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = TimedTrainer(config, model)

    t0 = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=True, show_progress=False
    )
    train_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    test_s = time.perf_counter() - t0
    total_s = time.perf_counter() - t_total

    curve = trainer.curve
    # RecBole's early_stopping counts a tie as an improvement (value >= best), so the checkpoint
    # tested is the LAST validation with the best score; the time-to-best is the FIRST one.
    best = max(curve, key=lambda r: r["ndcg@10"]) if curve else None  # first of equal maxima
    best_ckpt = None
    for r in curve:
        if best is not None and r["ndcg@10"] >= best["ndcg@10"]:
            best_ckpt = r
    report = {
        "tool": "recbole",
        "recbole_version": recbole.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "model": args.model,
        "dataset": name,
        "data_dir": str(data_dir),
        "n_users": int(dataset.user_num - 1),  # RecBole reserves id 0 for padding
        "n_items": int(dataset.item_num - 1),
        "n_train": len(train_data.dataset),
        "n_valid": len(valid_data.dataset),
        "n_test": len(test_data.dataset),
        "config": {
            "embedding_size": config["embedding_size"],
            "n_layers": config["n_layers"] if args.model == "LightGCN" else None,
            "reg_weight": config["reg_weight"],
            "learning_rate": config["learning_rate"],
            "train_batch_size": config["train_batch_size"],
            "epochs": config["epochs"],
            "stopping_step": config["stopping_step"],
            "eval_step": config["eval_step"],
            "seed": config["seed"],
            "train_neg_sample_args": dict(config["train_neg_sample_args"]),
            "eval_args": dict(config["eval_args"]),
            "metrics": METRICS,
            "topk": TOPK,
            "valid_metric": config["valid_metric"],
        },
        "masking": {
            "valid": "train items",
            "test": "train + valid items",
        },
        "epochs_run": len(trainer.train_loss_dict),
        "valid_curve": curve,
        "best_valid_ndcg@10": float(best_valid_score),
        "best_valid_epoch": best["epoch"] if best else None,
        "best_valid_elapsed_s": best["elapsed_s"] if best else None,
        "best_checkpoint_epoch": best_ckpt["epoch"] if best_ckpt else None,
        "best_valid_metrics": {k: float(v) for k, v in (best_valid_result or {}).items()},
        "test_metrics": {k: float(v) for k, v in test_result.items()},
        "time_s": {
            "data": data_s,
            "fit": train_s,
            "test": test_s,
            "total": total_s,
        },
        "work_dir": str(work_dir),
    }
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_path)
    print(
        f"{args.model}: {report['epochs_run']} epochs, fit {train_s:.1f}s, "
        f"best valid ndcg@10 {best_valid_score:.4f} at epoch {report['best_valid_epoch']} "
        f"({report['best_valid_elapsed_s']:.1f}s), test ndcg@10 {test_result['ndcg@10']:.4f} "
        f"recall@20 {test_result['recall@20']:.4f} -> {out_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
