"""Probes of LightGCN variants that lgrec does not offer, on the Gowalla validation carve-out.

Each probe changes one thing in the "d128 tau.15 decay1" setting of bench/lightgcn_sweep.py
(full softmax, dimension 128, temperature 0.15, learning rate 0.03 halved after each validation
without gain; best validation NDCG@20 0.1482 at epoch 17) and prints its validation curve; the
test file is never read. None rose above that setting, so none became an option; the variants
live here, in this process only (the probe puts its class in place of LightGCN, or its loss in
place of the trainer's), so that the figures can be reproduced.

- ``item-bias``: a learned bias per item added to every score (``u . i + b_i``), which could
  hold item popularity so that the vectors need not: 0.1471 at epoch 20 of 27 (biases from
  -0.94 to 0.31).
- ``rescaled``: LightGCN++'s propagation (Lee, Kim and Shin, RecSys 2024): every row scaled to
  unit norm before each layer, and ``gamma * E0 + (1 - gamma) * mean(E1..EK)``: gamma 0.25
  (LightGCN's own weight for layer 0): 0.1252; gamma 0.5: 0.1425. The propagated layers'
  norms no longer grow with training, and the full softmax at this temperature needs them to.
- ``masked``: each positive's softmax leaves the user's other positives out of the normaliser
  (``softplus(logsumexp over the row's non-positives - s_pos)``): 0.1473 at epoch 19 of 25.
  Its scores are float32 (plain in float32 on this CPU: 0.1481, below).
- ``layer-weights``: the plain setting's trained model, its layers weighed otherwise at scoring
  time only: any weighting other than the mean it was trained with is lower (layer 0 at 0.5
  or 1.5 of the others: 0.1347 / 0.1330; layer 3 at 0.5 / 1.5 / 2: 0.1426 / 0.1448 / 0.1392;
  layer k at 1/(k+1): 0.1024).

Figures: 2-core Xeon @ 2.80GHz, 2026-12-06, one run each. Two runs of the plain setting on
this CPU gave the same best figure at the same epoch, their curves up to 0.0003 apart elsewhere.

    python bench/lightgcn_probes.py item-bias rescaled masked layer-weights

Four more, with float32 score products (``--precision full``: this CPU has no bfloat16
products, and its loss step at dimension 128 takes 0.63 s in float32 against 1.58 s in
bfloat16, BENCHMARKS.md section "softmax-step-no-bf16"), against the plain setting run the
same way (``plain``: 0.1481 at epoch 17 of 23, against 0.1482 with bfloat16 products):

- ``whole-table-l2``: the L2 term on every item's embedding each step rather than on the
  batch's positives only (LightGCN penalises the parameters a batch touches, and a full-softmax
  step touches every item through its normaliser). It falls short at every weight: 0.1356 at
  0.03, 0.1459 at 0.1, 0.1287 at 0.2, 0.1114 at 0.3.
- ``drop-edge``: each training step propagates over a fresh random share of the interactions,
  normalised again (DropEdge; the edge dropout of SGL): keeping 0.9, 0.1474; 0.8, 0.1461.
- ``two-sided``: the full softmax plus, weighed ``w``, its item-side mirror, each positive
  item's softmax over the batch's 2,048 users (the in-batch two-sided loss of dual encoders).
  It learns faster at first (epoch 2: 0.1105 at ``w`` = 1 against 0.1038) and peaks lower:
  0.1416 at ``w`` = 1, 0.1452 at 0.3.
- ``ccl``: SimpleX's cosine contrastive loss (Mao et al., CIKM 2021) in place of the softmax,
  its negatives every item (a loss of its own, so unlike the others it also takes its own
  learning rate, cosine scores and no L2 term): ``1 - cos(u, i)`` per positive plus a weight
  times the user's mean of ``max(0, cos(u, j) - margin)`` over all items, scores
  ``normalize=True``. At margin 0.9, weight 150 and learning rate 0.02 it is level with plain:
  0.1485 at epoch 28 of 34, 0.0004 above plain, about the 0.0003 by which two runs of plain
  differ at an epoch; and it is slower to get there (plain passes 0.1470 at epoch 14, this at
  26). Every other setting tried is lower: learning rate 0.05, 0.1445; margin 0.8, 0.1465;
  margin 0.95, 0.1466; weight 50, 0.1347; weight 300, 0.1355. Not kept: no gain to carry to
  dimension 512, where its slower climb would also cost more epochs of the 15 minutes.

Figures: the same Xeon, 2026-12-06 and 07, one run each.

    python bench/lightgcn_probes.py plain whole-table-l2 drop-edge two-sided --precision full \
        --regs 0.03 0.1 0.2 0.3 --keeps 0.9 0.8 --sides 1 0.3
    python bench/lightgcn_probes.py ccl --precision full --margins 0.8 0.9 0.95 --ccl-lrs 0.02
    python bench/lightgcn_probes.py ccl --precision full --ccl-lrs 0.05
    python bench/lightgcn_probes.py ccl --precision full --ccl-lrs 0.02 --negative-weight 50
    python bench/lightgcn_probes.py ccl --precision full --ccl-lrs 0.02 --negative-weight 300

Two more the same way, on a 2-core AMD EPYC without AVX-512 (so without bfloat16 products
either; not the EPYC of BENCHMARKS.md's section "softmax-step"), where the plain setting gives
the Xeon's figure again (0.1481 at epoch 17 of 23). Neither rose above it; neither is kept:

- ``bpr-mix``: the full softmax plus, weighed ``w``, BPR on each positive against one item
  drawn uniformly (LightGCN's own loss, whose uniform negatives leave popular items high, the
  way Gowalla's test file leans): ``w`` = 1, 0.1477 (its curve within 0.0014 of plain's at
  each of the 23 epochs both ran); 3, 0.1466; 10, 0.1425.
- ``adam-betas``: Adam's second-moment decay 0.99 instead of 0.999 (the first 0.9, as
  before), a shorter memory of the gradients' scale: 0.1481 at epoch 16 of 22, level with
  plain.

Figures: 2026-12-07, one run each.

    python bench/lightgcn_probes.py bpr-mix plain adam-betas --precision full --bpr-weights 1
    python bench/lightgcn_probes.py bpr-mix --precision full --bpr-weights 10 3

One more on the same EPYC, the same way, not kept:

- ``margin``: the full softmax with an additive margin ``m`` on each positive (AM-softmax):
  its score lowered by ``m`` in its own term and in the normaliser, so that a positive keeps
  pulling until it leads the other items by ``m``. Level with plain at every margin tried
  (in score units; the temperature is 0.15): 0.05, 0.1481; 0.15, 0.1482; 0.5, 0.1481; 1.0,
  0.1482, all at epoch 17 of 23, each curve within 0.0004 of plain's at every epoch. Where a
  positive holds a small share ``p`` of its row's normaliser over all 40,981 items, the
  margin changes the gradient of its logit by about ``p (1 - exp(-m / t))``, at most ``p``.

Figures: 2026-12-07, one run each.

    python bench/lightgcn_probes.py margin --precision full --softmax-margins 0.05 0.15
    python bench/lightgcn_probes.py margin --precision full --softmax-margins 0.5 1.0
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

# lgrec first: it sets OMP_WAIT_POLICY and THP_MEM_ALLOC_ENABLE before torch loads.
import lgrec  # noqa: F401  # isort: skip
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lightgcn_sweep import CONFIG, D128_DECAY1, SOFTMAX_BASE  # noqa: E402

import lgrec.models as models  # noqa: E402
import lgrec.train.trainer as trainer  # noqa: E402
from lgrec import Recommender  # noqa: E402
from lgrec.eval.benchmark import BenchConfig, load_split  # noqa: E402
from lgrec.eval.ranking import dot_scorer, evaluate_ranking  # noqa: E402
from lgrec.graph import Graph, adjacency_spmm  # noqa: E402
from lgrec.models.lightgcn import LightGCN  # noqa: E402
from lgrec.train.losses import PRECISIONS  # noqa: E402

SETTING = {**SOFTMAX_BASE, **D128_DECAY1}
LAYER_WEIGHTS = [(1, 1, 1, 1), (0.5, 1, 1, 1), (1.5, 1, 1, 1), (2, 1, 1, 1), (1, 0.5, 1, 1),
                 (1, 1.5, 1, 1), (1, 1, 0.5, 1), (1, 1, 1.5, 1), (1, 1, 1, 0.5), (1, 1, 1, 1.5),
                 (1, 1, 1, 2), (1, 1 / 2, 1 / 3, 1 / 4)]


class ItemBiasLightGCN(LightGCN):
    """LightGCN whose scores add a learned item bias: a constant 1 joins every user vector and
    the bias every item vector, so ranking stays a dot product."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.item_bias = nn.Parameter(torch.zeros(self.n_items, 1))

    def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = super().forward(graph)
        ones = torch.ones(users.shape[0], 1, dtype=users.dtype, device=users.device)
        return torch.cat([users, ones], 1), torch.cat([items, self.item_bias], 1)


def rescaled_lightgcn(gamma: float) -> type[LightGCN]:
    class RescaledLightGCN(LightGCN):
        """LightGCN++'s propagation: rows to unit norm before each layer, layer 0 weighed gamma."""

        def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
            x0 = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
            matrix, transpose = self.adjacency_pair(graph)
            x, total = x0, torch.zeros_like(x0)
            for _ in range(self.layers):
                x = adjacency_spmm(matrix, F.normalize(x, dim=1), transpose)
                total = total + x
            return self.split_nodes(gamma * x0 + (1 - gamma) * total / self.layers)

    return RescaledLightGCN


class WholeTableL2LightGCN(LightGCN):
    """LightGCN whose L2 term covers every item, not just the batch's positives: LightGCN's
    rule is to penalise the parameters a batch touches, and a full-softmax step touches every
    item through its normaliser."""

    def regularization(self, users: torch.Tensor, pos: torch.Tensor,
                       neg: torch.Tensor) -> torch.Tensor:
        squares = self.user_embedding(users).pow(2).sum() + self.item_embedding.weight.pow(2).sum()
        return squares / (2 * users.shape[0])


def edge_dropping_lightgcn(keep: float) -> type[LightGCN]:
    class EdgeDroppingLightGCN(LightGCN):
        """LightGCN that, while training, propagates each step over a fresh random ``keep``
        share of the interactions, normalised again (DropEdge: Rong et al., ICLR 2020; the
        edge-dropout view of SGL)."""

        def forward(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
            if self.training:
                R = graph.R.tocoo()
                kept = torch.rand(R.nnz).numpy() < keep  # torch's generator: the fit's seed
                dropped = sp.csr_matrix((R.data[kept], (R.row[kept], R.col[kept])), R.shape)
                graph = Graph.from_csr(dropped)
            return super().forward(graph)

    return EdgeDroppingLightGCN


def masked_softmax_loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor,
                        rows: torch.Tensor, cols: torch.Tensor, temperature: float,
                        **_: object) -> torch.Tensor:
    """Full softmax whose normaliser, for each positive, leaves out the user's other positives.
    Its scores are taken in the vectors' own precision (float32), whatever ``--precision``
    says."""
    scores = (user_vectors @ item_vectors.t()) / temperature
    negatives = scores.index_put((rows, cols), torch.tensor(-torch.inf))
    return F.softplus(torch.logsumexp(negatives, dim=1)[rows] - scores[rows, cols]).mean()


def two_sided_softmax_loss(weight: float, plain_loss: Callable[..., torch.Tensor]
                           ) -> Callable[..., torch.Tensor]:
    """The full softmax plus ``weight`` times its item-side mirror: each positive item's
    softmax over the batch's users (the in-batch two-sided loss of dual encoders), whose
    scores are taken in the vectors' own precision."""

    def loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, rows: torch.Tensor,
             cols: torch.Tensor, temperature: float, **options: object) -> torch.Tensor:
        user_side = plain_loss(user_vectors, item_vectors, rows, cols, temperature, **options)
        positives = torch.unique(cols)
        scores = (user_vectors @ item_vectors[positives].t()) / temperature
        column = torch.searchsorted(positives, cols)
        item_side = torch.logsumexp(scores, dim=0)[column] - scores[rows, column]
        return user_side + weight * item_side.mean()

    return loss


def cosine_contrastive_loss(margin: float, weight: float) -> Callable[..., torch.Tensor]:
    """SimpleX's cosine contrastive loss (Mao et al., CIKM 2021) over every item:
    ``1 - cos(u, i)`` for each positive plus ``weight`` times the user's mean over all items of
    ``max(0, cos(u, j) - margin)``. The vectors come in normalised (``normalize=True``)."""

    def loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, rows: torch.Tensor,
             cols: torch.Tensor, temperature: float, **_: object) -> torch.Tensor:
        cosines = user_vectors @ item_vectors.t()
        negatives = F.relu(cosines - margin).mean(dim=1)
        return (1 - cosines[rows, cols] + weight * negatives[rows]).mean()

    return loss


def bpr_mixed_loss(weight: float, plain_loss: Callable[..., torch.Tensor]
                   ) -> Callable[..., torch.Tensor]:
    """The full softmax plus ``weight`` times BPR (Rendle et al., UAI 2009) on each positive
    against one item drawn uniformly, LightGCN's own loss: uniform negatives push down rarely
    seen items and leave popular ones high, where the softmax's normaliser weighs every item by
    its score."""

    def loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, rows: torch.Tensor,
             cols: torch.Tensor, temperature: float, **options: object) -> torch.Tensor:
        softmax = plain_loss(user_vectors, item_vectors, rows, cols, temperature, **options)
        negatives = torch.randint(item_vectors.shape[0], cols.shape, device=cols.device)
        users = user_vectors[rows]
        margins = (users * (item_vectors[cols] - item_vectors[negatives])).sum(dim=1)
        return softmax - weight * F.logsigmoid(margins).mean()

    return loss


def margin_softmax_loss(margin: float) -> Callable[..., torch.Tensor]:
    """The full softmax with an additive margin on each positive (AM-softmax; Wang et al.,
    "Additive Margin Softmax for Face Verification", 2018): the positive's score enters both its
    own term and the normaliser lowered by ``margin``, so a positive stops pulling only once it
    leads the other items by the margin. Its scores are taken in the vectors' own precision
    (float32), whatever ``--precision`` says."""

    def loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, rows: torch.Tensor,
             cols: torch.Tensor, temperature: float, **_: object) -> torch.Tensor:
        scores = (user_vectors @ item_vectors.t()) / temperature
        positives = scores[rows, cols]
        normaliser = torch.logsumexp(scores, dim=1)[rows]
        # The normaliser with the positive's own term lowered by the margin, e^{-m/t} times.
        share = torch.exp(positives - normaliser) * -math.expm1(-margin / temperature)
        return (normaliser + torch.log1p(-share) - positives + margin / temperature).mean()

    return loss


def adam_with(betas: tuple[float, float], plain_optimizer_for: Callable[..., torch.optim.Optimizer]
              ) -> Callable[..., torch.optim.Optimizer]:
    """``Trainer.optimizer_for`` (``plain_optimizer_for``) with Adam's moment decay rates set to
    ``betas``, which Adam reads from its parameter groups at every step."""

    def optimizer_for(self: trainer.Trainer, model: nn.Module) -> torch.optim.Optimizer:
        optimizer = plain_optimizer_for(self, model)
        for group in optimizer.param_groups:
            group["betas"] = betas
        return optimizer

    return optimizer_for


def fit(train, valid, label: str, epochs: int | None, **changes: object) -> Recommender:
    params = {**SETTING, "progress": False, **({"epochs": epochs} if epochs else {}), **changes}
    start = time.perf_counter()
    rec = Recommender("lightgcn", **params).fit(train, valid=valid)
    curve = [round(row["metrics"]["ndcg@20"], 4) for row in rec.history_]
    best = max(curve)
    print(f"{label}: best validation NDCG@20 {best} at epoch {curve.index(best) + 1} of "
          f"{len(curve)}, {time.perf_counter() - start:.0f} s; curve {curve}", flush=True)
    return rec


def layer_weights(rec: Recommender, train, valid) -> None:
    model = rec.model_
    seen, truth = rec.interaction_matrix(train), rec.interaction_matrix(valid)
    with torch.no_grad():
        matrix = model.adjacency_pair(Graph.from_csr(seen))[0]
        layers = [torch.cat([model.user_embedding.weight, model.item_embedding.weight])]
        for _ in range(model.layers):
            layers.append(torch.sparse.mm(matrix, layers[-1]))
    for weights in LAYER_WEIGHTS:
        nodes = sum(w * layer for w, layer in zip(weights, layers, strict=True)) / sum(weights)
        users, items = model.split_nodes(nodes)
        metrics = evaluate_ranking(dot_scorer(users, items), truth, exclude=seen, k=[20],
                                   metrics=["ndcg"]).metrics
        print(f"layer weights {tuple(round(w, 3) for w in weights)}: validation NDCG@20 "
              f"{metrics['ndcg@20']:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", nargs="+",
                        choices=["plain", "item-bias", "rescaled", "masked", "layer-weights",
                                 "whole-table-l2", "drop-edge", "two-sided", "ccl", "bpr-mix",
                                 "adam-betas", "margin"])
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.25, 0.5],
                        help="Layer-0 weights of the rescaled probe.")
    parser.add_argument("--regs", type=float, nargs="+", default=[0.1, 0.03],
                        help="L2 weights of the whole-table-l2 probe.")
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.9],
                        help="Shares of the interactions the drop-edge probe keeps a step.")
    parser.add_argument("--sides", type=float, nargs="+", default=[1.0],
                        help="Weights of the two-sided probe's item-side term.")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.9],
                        help="Margins of the ccl probe.")
    parser.add_argument("--ccl-lrs", type=float, nargs="+", default=[0.02],
                        help="Learning rates of the ccl probe.")
    parser.add_argument("--negative-weight", type=float, default=150.0,
                        help="Weight of the ccl probe's negative term.")
    parser.add_argument("--bpr-weights", type=float, nargs="+", default=[1.0],
                        help="Weights of the bpr-mix probe's BPR term.")
    parser.add_argument("--softmax-margins", type=float, nargs="+", default=[0.05],
                        help="Margins of the margin probe, in score units (before the "
                             "temperature).")
    parser.add_argument("--betas", type=float, nargs=2, action="append",
                        help="Adam's (beta1, beta2) for the adam-betas probe (repeatable; "
                             "default 0.9 0.99).")
    parser.add_argument("--precision", choices=PRECISIONS, default="bfloat16",
                        help="Score products of every probe, the plain setting's included "
                             "(bfloat16, the setting's own, is the slower on CPUs without "
                             "bfloat16 products; auto takes it only where they exist).")
    parser.add_argument("--epochs", type=int, default=None, help="Cap (a smoke run).")
    args = parser.parse_args()
    spec = next(d for d in BenchConfig.from_toml(CONFIG).datasets if d.name == "gowalla")
    train, valid, _, _ = load_split(spec)
    plain_loss = trainer.full_softmax_loss
    plain_optimizer = trainer.Trainer.optimizer_for
    SETTING["softmax_precision"] = args.precision
    for probe in args.probes:
        if probe == "plain":
            fit(train, valid, probe, args.epochs)
        elif probe == "item-bias":
            models.MODELS["lightgcn"] = ItemBiasLightGCN
            fit(train, valid, probe, args.epochs)
        elif probe == "whole-table-l2":
            models.MODELS["lightgcn"] = WholeTableL2LightGCN
            for reg in args.regs:
                fit(train, valid, f"{probe} reg {reg:g}", args.epochs, reg=reg)
        elif probe == "drop-edge":
            for keep in args.keeps:
                models.MODELS["lightgcn"] = edge_dropping_lightgcn(keep)
                fit(train, valid, f"{probe} keep {keep:g}", args.epochs)
        elif probe == "two-sided":
            for weight in args.sides:
                trainer.full_softmax_loss = two_sided_softmax_loss(weight, plain_loss)
                fit(train, valid, f"{probe} weight {weight:g}", args.epochs)
        elif probe == "ccl":
            for margin, lr in itertools.product(args.margins, args.ccl_lrs):
                trainer.full_softmax_loss = cosine_contrastive_loss(margin, args.negative_weight)
                fit(train, valid, f"{probe} margin {margin:g} weight {args.negative_weight:g} "
                    f"lr {lr:g}", args.epochs, normalize=True, reg=0.0, lr=lr)
        elif probe == "bpr-mix":
            for weight in args.bpr_weights:
                trainer.full_softmax_loss = bpr_mixed_loss(weight, plain_loss)
                fit(train, valid, f"{probe} weight {weight:g}", args.epochs)
        elif probe == "margin":
            for margin in args.softmax_margins:
                trainer.full_softmax_loss = margin_softmax_loss(margin)
                fit(train, valid, f"{probe} {margin:g}", args.epochs)
        elif probe == "adam-betas":
            for betas in args.betas or [(0.9, 0.99)]:
                trainer.Trainer.optimizer_for = adam_with(tuple(betas), plain_optimizer)
                fit(train, valid, f"{probe} {betas[0]:g} {betas[1]:g}", args.epochs)
        elif probe == "rescaled":
            for gamma in args.gammas:
                models.MODELS["lightgcn"] = rescaled_lightgcn(gamma)
                fit(train, valid, f"{probe} gamma {gamma:g}", args.epochs)
        elif probe == "masked":
            trainer.full_softmax_loss = masked_softmax_loss
            fit(train, valid, probe, args.epochs)
        else:
            layer_weights(fit(train, valid, "plain", args.epochs), train, valid)
        models.MODELS["lightgcn"] = LightGCN
        trainer.full_softmax_loss = plain_loss
        trainer.Trainer.optimizer_for = plain_optimizer


if __name__ == "__main__":
    main()
