"""Validation-only sweep of LightGCN settings (by default on the Gowalla split of gowalla.toml).

On Gowalla every setting is capped at the number of epochs the 2-core CPU affords in the
Gowalla table's 15-minute budget, so that a GPU can say in minutes which settings are worth a
CPU run. Prints the validation curve of each setting (the test file is never read) and writes
them to a JSON file, one entry per setting, as soon as each ends (a cut-off run keeps the
settings before).

Six families (the last on MovieLens-100K):

- ``infonce``: sampled softmax, 2,048 shared negatives, batch 8,192, dimension 64; capped at
  13 epochs (the CPU row's epoch count); curves of validation NDCG@10.
- ``softmax``: the full-softmax loss of the "lightgcn (full softmax, 15 min)" row; capped at
  60 epochs at dimension 128 (14 s an epoch on the CPU) and 22 at 256 (38 s), measured, and
  30 / 14 / 10 at 192 / 384 / 512, extrapolated; curves of validation NDCG@20, the metric that
  row selects on. The settings named "long" and "cos" came later, when a CPU epoch had
  become cheaper: longer caps, the curve then read up to the epoch the CPU affords (measured:
  an epoch at 384 / 512 costs 1.47 / 1.90 times one at 256); "b512" was run on the CPU
  itself, and so was "d640" (after commit 095a8a1 made the loss cheaper: 20 epochs with
  their validations in 991 s; validation NDCG@20 0.1519 at epoch 19, no better than dimension
  512), and so was "d512 tau.17" (0.1508 at epoch 18, below 0.1519 at temperature 0.15), and
  so were the L2 weights 0.12 and 0.085 at 512 (0.1497 and 0.1512, below 0.1519 at 0.1), and
  so were "heads2" at 512 and 768 (``softmax_heads=2``: two blocks of 256 / 384 dimensions
  with a softmax each, i.e. two models trained on the same batches whose scores are summed;
  0.1514 at epoch 16 and 0.1511 at epoch 12, no better than one 512-wide softmax), and so
  was an initial scale of 0.05 at 512 (0.1515 at epoch 17), and so was halving the learning
  rate after two validations without gain instead of one at 512 ("decay2": 0.1509 at epoch 22).
  At dimension 128 (also on the CPU; plain "d128 tau.15 decay1": 0.1482): one propagation
  layer ("layers1": 0.1273), cosine scores (three layers 0.1408, one layer 0.1403 / 0.1402 at
  temperature 0.07 / 0.1) and the log-partition term weighed 0.9
  (``softmax_normalizer_weight``, BSL's reweighting; "norm0.9": 0.1471; 1.1, the other way:
  0.1478), and each user's positives weighed by deg(u)^-0.5 (``user_weight_exponent``;
  "users0.5": 0.1419), all lower, and the learning rate annealed towards 0 over a fixed 20
  epochs instead of halved on plateaus ("cosine20": 0.1479, "linear20": 0.1482), level;
  on MovieLens-100K the exponents 0.5, 1 and -0.5 all lowered validation NDCG@10 too
  (``softmax-small`` below).
  Results: bench/results/lightgcn_softmax_sweep.json.
- ``exponents``: the degree exponents of the propagation (``target_exponent`` /
  ``source_exponent``: a message from ``b`` to ``a`` is scaled by
  ``deg(a)^-target deg(b)^-source``; LightGCN's own is 0.5 / 0.5) on the setting of the
  "lightgcn (full softmax, 15 min)" row and with its stopping rule, at most 40 epochs, on the
  2-core CPU. Validation NDCG@20 rises with the target exponent while the two sum to 1 (0.4:
  0.1461, 0.6: 0.1527, 0.7: 0.1543, 0.8: 0.1566, 0.9: 0.1573, 1.0: 0.1578, 1.1: 0.1550; that row at
  0.5: 0.1501) and falls when they do not (0.6 / 0.2: 0.1467). At dimension 512, 1.0 / 0.0
  gives 0.1596 at epoch 18 (plain LightGCN at 512: 0.1519). Results:
  bench/results/lightgcn_exponent_sweep.json (run 2026-12-05, one setting at a time through
  ``Recommender.fit`` with these parameters, as this script does).
- ``precision``: the same row's setting and stopping rule with float32 instead of bfloat16
  products in the loss, on the CPU: validation NDCG@20 0.1500 at epoch 12 (that row: 0.1501,
  also at epoch 12), 28 s an epoch against 20. Results:
  bench/results/lightgcn_precision_sweep.json.
- ``bpr``: LightGCN's own loss, BPR, at its paper's dimension 64, L2 1e-4 and three layers,
  with batches of 16,384 and several negatives per positive (the paper's batch of 2,048 makes
  eight times the steps an epoch, each a propagation over the whole graph, and the paper
  trains up to 1,000 epochs), each setting 8 minutes of training, validated every 5 epochs,
  on a 2-core EPYC without bfloat16 products (2026-12-07). 16 negatives, learning rate 0.01: 40 epochs, validation NDCG@20
  0.0886 / 0.0987 / 0.1050 / 0.1103 / 0.1128 / 0.1157 / 0.1190 / 0.1208 at epochs 5 to 40; 64
  negatives, learning rate 0.05: 15 epochs, 0.1089 / 0.1176 / 0.1205 at epochs 5 / 10 / 15.
  Both still rose when cut off, by 0.0018 and 0.0029 over their last five epochs (about 1 and
  2.7 minutes); the full softmax at dimension 128 reaches 0.1481 at its epoch 17, about 5.5
  minutes in, on the same CPU (bench/lightgcn_probes.py ``plain``), so no BPR row was added.
- ``softmax-small``: the full softmax on MovieLens-100K's split (``--config
  bench/configs/ml100k.toml --dataset ml-100k``) under that table's protocol (at most 300
  epochs, validation NDCG@10, patience 10). Results:
  bench/results/lightgcn_softmax_small_sweep.json. On its best setting ("d128 nodecay tau.3":
  0.2664, seed 7 0.2639) weighing users' positives by deg(u)^-e gives 0.2594 / 0.2617 (e =
  0.5), 0.2534 / 0.2556 (1), 0.2584 / 0.2568 (-0.5), and the log-partition weight 0.9 / 0.8
  gives 0.2213 / 0.2244 and 0.1830 / 0.1789 (seeds 2020 / 7).

    python bench/lightgcn_sweep.py --family softmax --device cuda --json OUT.json
    python bench/lightgcn_sweep.py --family bpr
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lgrec import Recommender  # noqa: E402
from lgrec.eval.benchmark import BenchConfig, load_split  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "gowalla.toml"

INFONCE_BASE = dict(dim=64, layers=3, loss="infonce", negatives=2048, shared_negatives=True,
                    temperature=0.2, lr=0.005, reg=0.0, batch_size=8192, eval_every=1,
                    patience=20, epochs=13, metric="ndcg@10")
SOFTMAX_BASE = dict(dim=128, layers=3, loss="softmax", softmax_precision="bfloat16",
                    batch_size=2048, lr=0.03, reg=0.1, temperature=0.2, lr_decay_patience=2,
                    patience=6, eval_every=1, epochs=60, metric="ndcg@20")
D256 = dict(dim=256, epochs=22)
COSINE_D256 = {**D256, "epochs": 32, "normalize": True, "reg": 0.0, "lr_decay_patience": 1}
COSINE_D128 = {**COSINE_D256, "dim": 128, "epochs": 40, "lr": 0.005}
# "d128 tau.15 decay1" capped at 40 epochs: the base of the d128 settings that change one thing.
D128_DECAY1 = dict(temperature=0.15, lr_decay_patience=1, epochs=40)
# The "d512 tau.15 decay1 long" setting, which the d512 Gowalla row took; the settings after it
# change one thing each.
D512_LONG = dict(dim=512, epochs=24, temperature=0.15, lr_decay_patience=1)

# LightGCN's own loss, BPR, at dimension 64 (the paper's), in large batches so that a CPU makes
# many epochs in the 15 minutes, with several negatives per positive, validated every 5
# epochs; each setting gets 8 minutes of training.
BPR_BASE = dict(dim=64, layers=3, loss="bpr", reg=1e-4, batch_size=16384, eval_every=5,
                patience=100, epochs=1000, max_seconds=480, metric="ndcg@20", threads=2)

# The "lightgcn (full softmax, 15 min)" row's setting, with its stopping rule, on the CPU.
ROW_15MIN_BASE = {**SOFTMAX_BASE, "dim": 256, "temperature": 0.15, "lr_decay_patience": 1,
                  "epochs": 40, "threads": 2}

SMALL_SOFTMAX_BASE = dict(dim=64, layers=3, loss="softmax", softmax_precision="bfloat16",
                          batch_size=256, lr=0.01, reg=0.01, temperature=0.2,
                          lr_decay_patience=1, patience=10, eval_every=1, epochs=300,
                          metric="ndcg@10")
# Its best setting, "d128 nodecay tau.3": the base of the settings that change one thing.
SMALL_D128_TAU3 = dict(dim=128, lr_decay_patience=0, temperature=0.3)


def annealed(lr: float, epochs: int, shape: str) -> tuple[float, ...]:
    """A learning rate per epoch falling from ``lr`` towards 0 over ``epochs``: ``cosine``
    (half a cosine period) or ``linear``."""
    fractions = [epoch / epochs for epoch in range(epochs)]
    if shape == "cosine":
        return tuple(lr * 0.5 * (1 + math.cos(math.pi * f)) for f in fractions)
    return tuple(lr * (1 - f) for f in fractions)


FAMILIES: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {
    "infonce": (INFONCE_BASE, {
        "spectral": dict(init="spectral"),
        "spectral lr.002": dict(init="spectral", lr=0.002),
        "spectral tau.1": dict(init="spectral", temperature=0.1),
        "normal tau.1": dict(temperature=0.1),
        "normal lr.002 neg4096": dict(lr=0.002, negatives=4096),
        "spectral xsimgcl": dict(init="spectral", cl_weight=0.05, noise_eps=0.1,
                                 cl_temperature=0.2),
        "normal tau.1 lr.01": dict(temperature=0.1, lr=0.01),
    }),
    "softmax": (SOFTMAX_BASE, {
        "d128": {},
        "d256": D256,
        "d128 reg.3": dict(reg=0.3),
        "d128 reg.03": dict(reg=0.03),
        "d128 tau.15": dict(temperature=0.15),
        "d128 tau.25": dict(temperature=0.25),
        "d128 layers2": dict(layers=2),
        "d128 layers4": dict(layers=4),
        "d128 spectral": dict(init="spectral"),
        "d128 b4096 lr.05": dict(batch_size=4096, lr=0.05),
        "d128 reg.3 tau.15": dict(reg=0.3, temperature=0.15),
        "d128 reg.03 tau.25": dict(reg=0.03, temperature=0.25),
        "d256 reg.3": {**D256, "reg": 0.3},
        "d256 tau.15": {**D256, "temperature": 0.15},
        "d256 layers4": {**D256, "layers": 4},
        "d128 tau.1": dict(temperature=0.1),
        "d128 tau.12": dict(temperature=0.12),
        "d128 tau.15 reg.05": dict(temperature=0.15, reg=0.05),
        "d128 tau.15 reg.15": dict(temperature=0.15, reg=0.15),
        "d128 tau.15 spectral": dict(temperature=0.15, init="spectral"),
        "d128 tau.15 b4096 lr.05": dict(temperature=0.15, batch_size=4096, lr=0.05),
        "d256 tau.1": {**D256, "temperature": 0.1},
        "d256 tau.12": {**D256, "temperature": 0.12},
        "d256 tau.15 spectral": {**D256, "temperature": 0.15, "init": "spectral"},
        "d256 tau.15 b4096 lr.05": {**D256, "temperature": 0.15, "batch_size": 4096, "lr": 0.05},
        "d256 tau.15 reg.15": {**D256, "temperature": 0.15, "reg": 0.15},
        "d256 tau.15 reg.07": {**D256, "temperature": 0.15, "reg": 0.07},
        "d256 tau.13": {**D256, "temperature": 0.13},
        "d256 tau.17": {**D256, "temperature": 0.17},
        "d256 tau.15 lr.02": {**D256, "temperature": 0.15, "lr": 0.02},
        "d256 tau.15 lr.045": {**D256, "temperature": 0.15, "lr": 0.045},
        "d256 tau.15 decay1": {**D256, "temperature": 0.15, "lr_decay_patience": 1},
        "d256 seed7": {**D256, "seed": 7},
        "d256 tau.15 seed7": {**D256, "temperature": 0.15, "seed": 7},
        "d128 tau.15 seed7": dict(temperature=0.15, seed=7),
        "d192 tau.15": dict(dim=192, epochs=30, temperature=0.15),
        "d256 tau.15 decay1 seed7": {**D256, "temperature": 0.15, "lr_decay_patience": 1,
                                     "seed": 7},
        "d256 tau.17 decay1": {**D256, "temperature": 0.17, "lr_decay_patience": 1},
        "d256 tau.15 lr.045 decay1": {**D256, "temperature": 0.15, "lr": 0.045,
                                      "lr_decay_patience": 1},
        "d384 tau.15 decay1": dict(dim=384, epochs=14, temperature=0.15, lr_decay_patience=1),
        "d512 tau.15 decay1": dict(dim=512, epochs=10, temperature=0.15, lr_decay_patience=1),
        "d128 tau.15 decay1": dict(temperature=0.15, lr_decay_patience=1),
        # After commits 45a288c and 051dbdc made a CPU epoch cheaper: wider tables at longer
        # caps (the curves are cut afterwards at the epochs the CPU then affords), and cosine
        # scores, which need no L2 on the vectors' length.
        "d384 tau.15 decay1 long": dict(dim=384, epochs=30, temperature=0.15,
                                        lr_decay_patience=1),
        "d512 tau.15 decay1 long": D512_LONG,
        "d256 cos tau.05": {**COSINE_D256, "temperature": 0.05},
        "d256 cos tau.07": {**COSINE_D256, "temperature": 0.07},
        "d256 cos tau.1": {**COSINE_D256, "temperature": 0.1},
        "d256 cos tau.07 lr.005": {**COSINE_D256, "temperature": 0.07, "lr": 0.005},
        "d256 tau.15 decay1 b512": {**D256, "temperature": 0.15, "lr_decay_patience": 1,
                                    "batch_size": 512},
        # After the loss's items' gradient became one product per batch (commit 095a8a1):
        # dimension 640, run on the CPU itself.
        "d640 tau.15 decay1 long": dict(dim=640, epochs=20, temperature=0.15,
                                        lr_decay_patience=1),
        # Dimension 512 at the temperature that tied 0.15 at dimension 256 (0.1496 against
        # 0.1493), on the CPU.
        "d512 tau.17 decay1 long": {**D512_LONG, "temperature": 0.17},
        # The L2 weight at dimension 512, whose best value was chosen at 128 and 256 only
        # (at 256: 0.07 / 0.1 / 0.15 gave 0.1470 / 0.1493 / 0.1448), on the CPU.
        "d512 tau.15 decay1 long reg.12": {**D512_LONG, "reg": 0.12},
        "d512 tau.15 decay1 long reg.085": {**D512_LONG, "reg": 0.085},
        # Width stops helping past 512: the same widths trained as blocks with a softmax each
        # (``softmax_heads``, the multi-embedding design), on the CPU.
        "d512 tau.15 decay1 long heads2": {**D512_LONG, "softmax_heads": 2},
        "d768 tau.15 decay1 long heads2": {**D512_LONG, "dim": 768, "epochs": 20,
                                           "softmax_heads": 2},
        # The initial scale at 512 (0.1 a coordinate at every width so far): 0.05 starts the
        # vectors at the length 0.1 gives at dimension 128, on the CPU.
        "d512 tau.15 decay1 long init.05": {**D512_LONG, "init_std": 0.05},
        # Halving after two validations without gain instead of one, with the epochs a CPU
        # refit at 512 affords within 15 minutes (about 34 s each), on the CPU.
        "d512 tau.15 decay2 long": {**D512_LONG, "epochs": 26, "lr_decay_patience": 2},
        # One propagation layer, with cosine and with dot-product scores, at dimension 128
        # (capped at 40 epochs), against three layers, on the CPU.
        "d128 cos tau.07 lr.005": {**COSINE_D128, "temperature": 0.07},
        "d128 cos tau.07 lr.005 layers1": {**COSINE_D128, "temperature": 0.07, "layers": 1},
        "d128 cos tau.1 lr.005 layers1": {**COSINE_D128, "temperature": 0.1, "layers": 1},
        "d128 tau.15 decay1 layers1": {**D128_DECAY1, "layers": 1},
        # The log-partition term weighed below and above 1 (``softmax_normalizer_weight``,
        # BSL's reweighting), at dimension 128 (capped at 40 epochs), on the CPU.
        **{f"d128 tau.15 decay1 norm{weight:g}": {**D128_DECAY1,
                                                   "softmax_normalizer_weight": weight}
           for weight in (0.9, 1.1)},
        # Each user's positives weighed by deg(u) ** -0.5 (``user_weight_exponent``), at
        # dimension 128 (capped at 40 epochs), on the CPU.
        "d128 tau.15 decay1 users0.5": {**D128_DECAY1, "user_weight_exponent": 0.5},
        # The learning rate annealed from 0.03 towards 0 over a fixed 20 epochs (cosine or
        # linear; ``lr_schedule``, so no halving on plateaus) instead of halved after each
        # validation without gain, at dimension 128, on the CPU.
        "d128 tau.15 cosine20": {**D128_DECAY1, "epochs": 20,
                                 "lr_schedule": annealed(0.03, 20, "cosine")},
        "d128 tau.15 linear20": {**D128_DECAY1, "epochs": 20,
                                 "lr_schedule": annealed(0.03, 20, "linear")},
    }),
    # The degree exponents of the propagation (LightGCN's target_exponent / source_exponent,
    # 0.5 / 0.5 being the symmetric normalisation) on the setting of the "lightgcn (full
    # softmax, 15 min)" row, with that row's stopping rule (patience 6) and at most 40 epochs;
    # run on the 2-core CPU.
    "exponents": (ROW_15MIN_BASE, {
        f"target {t:g} source {s:g}": dict(target_exponent=t, source_exponent=s)
        for t, s in ((0.4, 0.6), (0.6, 0.4), (0.7, 0.3), (0.8, 0.2), (0.9, 0.1), (1.0, 0.0),
                     (1.1, -0.1), (0.6, 0.2))
    } | {"d512 target 1 source 0": dict(dim=512, target_exponent=1.0, source_exponent=0.0)}),
    # The precision of the full softmax's users x items products on the same setting and
    # stopping rule: float32 against the bfloat16 of the Gowalla rows; run on the 2-core CPU.
    "precision": (ROW_15MIN_BASE, {"float32 products": dict(softmax_precision="full")}),
    "bpr": (BPR_BASE, {
        "d64 b16384 n16 lr.01": dict(negatives=16, lr=0.01),
        "d64 b16384 n64 lr.05": dict(negatives=64, lr=0.05),
    }),
    # MovieLens-100K (--config bench/configs/ml100k.toml --dataset ml-100k): the full softmax
    # chosen on that split's own validation part, under the ML-100K table's protocol (at most
    # 300 epochs, validation NDCG@10, patience 10).
    "softmax-small": (SMALL_SOFTMAX_BASE, {
        "d64": {},
        "d64 tau.1": dict(temperature=0.1),
        "d64 tau.3": dict(temperature=0.3),
        "d64 tau.5": dict(temperature=0.5),
        "d64 reg.001": dict(reg=0.001),
        "d64 reg.1": dict(reg=0.1),
        "d64 lr.003": dict(lr=0.003),
        "d64 lr.03": dict(lr=0.03),
        "d256": dict(dim=256),
        "d64 b943": dict(batch_size=943),
        "d64 nodecay": dict(lr_decay_patience=0),
        "d64 nodecay lr.001": dict(lr_decay_patience=0, lr=0.001),
        "d64 nodecay lr.001 tau.3": dict(lr_decay_patience=0, lr=0.001, temperature=0.3),
        "d64 nodecay lr.001 reg.1": dict(lr_decay_patience=0, lr=0.001, reg=0.1),
        "d256 nodecay lr.001": dict(dim=256, lr_decay_patience=0, lr=0.001),
        "d64 nodecay tau.15": dict(lr_decay_patience=0, temperature=0.15),
        "d64 nodecay tau.3": dict(lr_decay_patience=0, temperature=0.3),
        "d64 nodecay reg.1": dict(lr_decay_patience=0, reg=0.1),
        "d64 nodecay reg.001": dict(lr_decay_patience=0, reg=0.001),
        "d128 nodecay": dict(dim=128, lr_decay_patience=0),
        "d64 decay2": dict(lr_decay_patience=2),
        "d64 nodecay seed7": dict(lr_decay_patience=0, seed=7),
        "d128 nodecay tau.3": SMALL_D128_TAU3,
        "d128 nodecay seed7": dict(dim=128, lr_decay_patience=0, seed=7),
        "d128 nodecay tau.3 seed7": {**SMALL_D128_TAU3, "seed": 7},
    } | {
        f"d128 nodecay tau.3 users{exponent:g}{' seed7' if seed == 7 else ''}": {
            **SMALL_D128_TAU3, "user_weight_exponent": exponent, "seed": seed}
        for exponent in (0.5, 1.0, -0.5) for seed in (2020, 7)
    } | {
        f"d128 nodecay tau.3 norm{weight:g}{' seed7' if seed == 7 else ''}": {
            **SMALL_D128_TAU3, "softmax_normalizer_weight": weight, "seed": seed}
        for weight in (0.9, 0.8) for seed in (2020, 7)
    }),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="infonce")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", type=Path, default=CONFIG,
                        help="Bench config holding the dataset (default: the Gowalla table's).")
    parser.add_argument("--dataset", default="gowalla", help="Dataset name in --config.")
    parser.add_argument("--only", nargs="*", default=None, help="Names of settings to run.")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="Cap every setting lower still (a quick check of the script).")
    args = parser.parse_args()
    base, tries = FAMILIES[args.family]
    spec = next(d for d in BenchConfig.from_toml(args.config).datasets if d.name == args.dataset)
    train, valid, _, _ = load_split(spec)
    curves: dict[str, Any] = json.loads(args.json.read_text()) if (
        args.json and args.json.exists()) else {}
    for name, override in tries.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        params = {**base, **override, "device": args.device, "progress": False}
        if args.max_epochs:
            params["epochs"] = min(params["epochs"], args.max_epochs)
        metric = params["metric"]
        rec = Recommender("lightgcn", **params).fit(train, valid=valid)
        seconds = time.perf_counter() - started
        curve = [round(r["metrics"][metric], 4) for r in rec.history_]
        elapsed = [round(r["elapsed_s"], 1) for r in rec.history_]
        curves[name] = curve if args.family == "infonce" else {
            "params": override, "metric": metric, "seconds": round(seconds, 1), "curve": curve}
        validated = [r["epoch"] for r in rec.history_]
        best = max(curve)
        print(f"{name}: {seconds:.0f}s, best valid {metric} {best} at epoch "
              f"{validated[curve.index(best)]} of {rec.epochs_}: {curve}; epochs "
              f"validated: {validated}; seconds into training at each validation: {elapsed}",
              flush=True)
        if args.json:
            args.json.write_text(json.dumps(curves, indent=1))


if __name__ == "__main__":
    main()
