"""Training speed with and without one of lgrec's settings.

* ``--setting huge-pages`` (the default): ``import lgrec`` sets ``THP_MEM_ALLOC_ENABLE=1``
  (unless already set), so that torch's CPU allocator backs tensors of 2 MiB and more with
  huge pages; off is the variable at 0.
* ``--setting retained-heap``: ``TrainConfig.retain_heap`` (on by default) trains inside
  :func:`lgrec.train.heap.retained_heap`, so glibc's ``malloc`` takes large blocks from the
  heap and keeps what is freed; off is ``retain_heap=False``.
* ``--setting row-gather``: pairwise training gathers its batch rows with
  :func:`lgrec.train.losses.gather_rows`, whose gradient adds rows with ``index_add_``; off is
  plain indexing, whose gradient is ``index_put_`` with ``accumulate``. The rows also give a
  digest of the weights after the steps, to show whether runs repeat them.

The script measures what a setting buys: the same work in fresh processes with it off and
on, the two taking turns (order swapped every round), the table giving the median over
rounds. Each setting has its own section of BENCHMARKS.md and its own rows file.

* LightGCN training steps on the cost-curve synthetic logs (``bench/cost_curves.py``; dim 64,
  3 layers, BPR with one negative, batch = edges / 50 as in its epoch, fused Adam): the
  median over ``--steps`` steps after one warm-up step.
* Optionally one epoch of the Gowalla full-softmax LightGCN setting at dimension 512 (the
  "lightgcn (full softmax d512, ...)" row of ``bench/configs/gowalla.toml``, read from there)
  through ``Recommender.fit`` (``--gowalla DIR``).

    python bench/huge_pages.py --rounds 3 --gowalla ../shared/data/gowalla
    python bench/huge_pages.py --setting retained-heap --rounds 3 --gowalla ../shared/data/gowalla
    python bench/huge_pages.py --setting row-gather --rounds 3 --steps 6
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, git_commit, machine, write_section  # noqa: E402
from cost_curves import STEPS_PER_EPOCH, log_path, peak_gib, write_log  # noqa: E402

SETTINGS = {
    "huge-pages": {
        "results": ROOT / "bench" / "results" / "huge_pages.json",
        "title": "Transparent huge pages for torch's tensors",
        "what": (
            "`import lgrec` sets `THP_MEM_ALLOC_ENABLE=1` (unless it is set already) before "
            "torch loads, so torch's CPU allocator asks for huge pages for tensors of 2 MiB and "
            "more. Without them, every large table a training step allocates (products' "
            "outputs, gradients, the softmax's score blocks) is faulted in 4 KiB at a time "
            "while it is zero-filled. Each figure is measured in fresh processes with the "
            "variable at 0 and at 1"),
    },
    "retained-heap": {
        "results": ROOT / "bench" / "results" / "retained_heap.json",
        "title": "Retained heap: freed memory kept by malloc while training",
        "what": (
            "`Trainer.fit` on the CPU runs inside `lgrec.train.heap.retained_heap` unless "
            "`retain_heap = false`: glibc's `malloc` then takes no block from `mmap` and keeps "
            "freed memory, so the large tables every step allocates and frees (node tables, "
            "layer outputs, gradients, the tiles' partial sums) reuse memory already mapped "
            "instead of being page-faulted and zero-filled anew; over 32 MiB (glibc's largest "
            "mmap threshold) they otherwise always are. Huge pages are on in both. Each figure "
            "is measured in fresh processes with the setting off and on"),
    },
    "row-gather": {
        "results": ROOT / "bench" / "results" / "row_gather.json",
        "title": "Row gathers whose gradient adds whole rows",
        "what": (
            "Pairwise training (`Trainer.pairwise_loss`) gathers the batch's user and item "
            "rows with `lgrec.train.losses.gather_rows`: on the CPU its gradient adds each "
            "gathered row into the table's gradient with `index_add_`. Off is plain indexing "
            "(`table[index]`), whose gradient is `index_put_` with `accumulate`, which adds one "
            "element at a time and, with several threads, in an order that changes from run "
            "to run. Each figure is measured in fresh processes with gather_rows and with "
            "plain indexing"),
    },
}
GOWALLA_CONFIG = ROOT / "bench" / "configs" / "gowalla.toml"
GOWALLA_RUN = "lightgcn (full softmax d512, setting from the carve-out)"


# --------------------------------------------------------------------------- child side
def lightgcn_steps(n: int, steps: int, threads: int, retain_heap: bool,
                   row_gather: bool = True) -> dict[str, Any]:
    """The cost-curve epoch's steps (``bench/cost_curves.py``: its config, the trainer's own
    step) on the first batch of the epoch's draw, timed one by one, which ``Trainer.fit``
    does not; inside :func:`retained_heap` as ``Trainer.fit`` would be, when ``retain_heap``;
    with plain indexing in place of :func:`gather_rows` unless ``row_gather``."""
    import hashlib

    import torch

    import lgrec.train.trainer
    from lgrec.graph import Graph
    from lgrec.models.lightgcn import LightGCN
    from lgrec.train.config import TrainConfig
    from lgrec.train.heap import retained_heap
    from lgrec.train.sampling import UniformSampler
    from lgrec.train.trainer import Trainer

    if not row_gather:
        lgrec.train.trainer.gather_rows = lambda table, index: table[index]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with np.load(log_path(n)) as data:
        users, items = data["users"], data["items"]
        n_users, n_items = (int(v) for v in data["shape"])
    graph = Graph.from_interactions(users, items, n_users, n_items)
    del users, items
    batch = math.ceil(graph.n_edges / STEPS_PER_EPOCH)
    trainer = Trainer(TrainConfig(epochs=1, threads=threads, progress=False, batch_size=batch,
                                  loss="bpr", seed=0))
    model = LightGCN(n_users, n_items, dim=64, layers=3)
    model.initialize(graph)
    optimizer = trainer.optimizer_for(model)
    drawn = UniformSampler(graph.R, seed=0).epoch(0, 1)
    batch_users, positives, negatives = (torch.from_numpy(a[:batch]) for a in drawn)
    times = []
    with retained_heap(retain_heap):
        for _ in range(steps + 1):
            started = time.perf_counter()
            trainer.step(optimizer, trainer.pairwise_loss(model, graph, batch_users, positives,
                                                          negatives))
            times.append(time.perf_counter() - started)
    weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    return {"edges": graph.n_edges, "batch_size": batch, "step_s": statistics.median(times[1:]),
            "step_times_s": times, "peak_gib": peak_gib(),
            "weights_md5": hashlib.md5(weights).hexdigest()}


def gowalla_epoch(directory: Path, threads: int, retain_heap: bool) -> dict[str, Any]:
    from lgrec.data import load_dataset
    from lgrec.eval.benchmark import BenchConfig
    from lgrec.recommend import Recommender
    from lgrec.recommend.presets import preset

    run = next(r for r in BenchConfig.from_toml(GOWALLA_CONFIG).runs if r.label == GOWALLA_RUN)
    train = load_dataset(directory / "train.txt")
    params = {**preset(run.model), **run.params, "epochs": 1, "threads": threads,
              "progress": False, "retain_heap": retain_heap}
    started = time.perf_counter()
    Recommender("lightgcn", **params).fit(train)
    return {"edges": train.n_interactions, "epoch_s": time.perf_counter() - started,
            "peak_gib": peak_gib()}


# --------------------------------------------------------------------------- parent side
def spawn(job: list[str], setting: str, on: bool, threads: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *job,
               "--threads", str(threads)]
    env = dict(os.environ)
    if setting == "huge-pages":
        env["THP_MEM_ALLOC_ENABLE"] = "1" if on else "0"
    elif setting == "row-gather":
        command += ["--row-gather", "1" if on else "0"]
    else:
        command += ["--retain-heap", "1" if on else "0"]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    for n in args.sizes:
        if not log_path(n).exists():
            write_log(n, args.seed)
    jobs = [["lightgcn", str(n), str(args.steps)] for n in args.sizes]
    if args.gowalla:
        jobs.append(["gowalla", str(Path(args.gowalla).resolve())])
    results: dict[str, dict[str, list[dict[str, Any]]]] = {" ".join(j): {"off": [], "on": []}
                                                          for j in jobs}
    for round_ in range(args.rounds):
        for job in jobs:
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for on in order:
                row = spawn(job, args.setting, on, args.threads)
                results[" ".join(job)]["on" if on else "off"].append(row)
                print(f"round {round_ + 1} {' '.join(job)} {args.setting} {'on' if on else 'off'}: "
                      f"{json.dumps({k: v for k, v in row.items() if k != 'step_times_s'})}",
                      file=sys.stderr, flush=True)
    return {"command": "python bench/huge_pages.py " + shlex.join(sys.argv[1:]),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M+00:00"),
            "machine": machine(), "commit": git_commit(), "rounds": args.rounds,
            "setting": args.setting,
            "steps": args.steps,
            "kernel_thp": Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip(),
            "results": results}


def section(saved: dict[str, Any]) -> str:
    setting = SETTINGS[saved.get("setting", "huge-pages")]
    lines = [
        f"## {setting['title']}",
        "",
        f"Command: `{saved['command']}`  ",
        f"Date: {saved['date']}, code at commit {saved['commit']}  ",
        f"Machine: {saved['machine']}; kernel THP mode `{saved['kernel_thp']}`",
        "",
        f"{setting['what']}, taking turns, the order swapped every round; the median over "
        f"{saved['rounds']} rounds. LightGCN steps: the cost-curve logs and step "
        f"(dim 64, 3 layers, BPR, batch = edges / {STEPS_PER_EPOCH}, fused Adam), the median of "
        f"{saved['steps']} steps after a warm-up."
        + (" Gowalla: one epoch of the d512 full-softmax setting through `Recommender.fit` "
           "(graph build included)." if any(job.startswith("gowalla")
                                            for job in saved["results"]) else ""),
        "",
        "| work | edges | off: time (s) | on: time (s) | on / off | on / off by round "
        "| off: peak RSS (GiB) | on: peak RSS (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for job, runs in saved["results"].items():
        kind = job.split()[0]
        key = "step_s" if kind == "lightgcn" else "epoch_s"
        name = "LightGCN step" if kind == "lightgcn" else "Gowalla d512 softmax epoch"
        off = statistics.median(r[key] for r in runs["off"])
        on = statistics.median(r[key] for r in runs["on"])
        peak_off = statistics.median(r["peak_gib"] for r in runs["off"])
        peak_on = statistics.median(r["peak_gib"] for r in runs["on"])
        by_round = ", ".join(f"{b[key] / a[key]:.2f}"
                             for a, b in zip(runs["off"], runs["on"], strict=True))
        lines.append(f"| {name} | {runs['off'][0]['edges']:,} | {off:.3g} | {on:.3g} "
                     f"| {on / off:.2f} | {by_round} | {peak_off:.2f} | {peak_on:.2f} |")
    digests = [(job, runs) for job, runs in saved["results"].items()
               if all("weights_md5" in r for side in runs.values() for r in side)]
    if digests:
        lines += ["", "Distinct weight digests (md5 of the parameters after the steps) over the "
                  "rounds, the same seed and batch every time: " + "; ".join(
                      f"{runs['off'][0]['edges']:,} edges: off "
                      f"{len({r['weights_md5'] for r in runs['off']})}, on "
                      f"{len({r['weights_md5'] for r in runs['on']})}"
                      for job, runs in digests) + "."]
    rebuild = "python bench/huge_pages.py --from-json"
    if saved.get("setting", "huge-pages") != "huge-pages":
        rebuild += f" --setting {saved['setting']}"
    lines += ["", f"Rows: `{setting['results'].relative_to(ROOT)}`; rebuild this section with "
              f"`{rebuild}`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000],
                        help="Drawn interactions per synthetic log (as in cost_curves.py).")
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per process.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gowalla", help="Directory with Gowalla's train.txt (optional).")
    parser.add_argument("--setting", choices=tuple(SETTINGS), default="huge-pages",
                        help="What to compare off and on; also names the section.")
    parser.add_argument("--from-json", action="store_true",
                        help="Measure nothing: rewrite the setting's section from its rows.")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--retain-heap", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--row-gather", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        retain = bool(args.retain_heap)
        row = (lightgcn_steps(int(rest[0]), int(rest[1]), args.threads, retain,
                              bool(args.row_gather))
               if kind == "lightgcn" else gowalla_epoch(Path(rest[0]), args.threads, retain))
        print(json.dumps(row))
        return
    results = SETTINGS[args.setting]["results"]
    if args.from_json:
        saved = json.loads(results.read_text())
    else:
        saved = measure(args)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"wrote {write_section(args.setting, section(saved))}")


if __name__ == "__main__":
    main()
