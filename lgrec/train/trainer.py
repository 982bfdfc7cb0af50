"""The training loop: sampling, loss, Adam, validation, early stopping, checkpoints, resume."""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from lgrec.eval import dot_scorer, evaluate_ranking, parse_metric
from lgrec.graph import Graph
from lgrec.models.base import Model
from lgrec.train.checkpoint import load_checkpoint, save_checkpoint
from lgrec.train.config import TrainConfig
from lgrec.train.heap import retained_heap
from lgrec.train.losses import LOSSES, PRECISIONS, full_softmax_loss, gather_rows
from lgrec.train.precision import native_bfloat16, resolve_precision
from lgrec.train.sampling import UniformSampler

log = logging.getLogger(__name__)

DENSE_SCORES_PER_NEGATIVE = 64
"""Per-user negatives are scored through the full batch x items score matrix when the
catalogue has at most this many items per sampled negative (same scores, cheaper on small
catalogues)."""


FULL_SOFTMAX = "softmax"
"""The loss name of full-softmax training, whose batches are users rather than triples."""


class Trainer:
    """Fits a trainable :class:`Model` on a :class:`Graph`: with sampled (user, positive,
    negatives) batches for the pairwise losses, or with batches of users scored against every
    item for the full-softmax loss (``loss="softmax"``).

    ``history_`` after :meth:`fit` lists one record per validation:
    ``{"epoch", "elapsed_s", "loss", "metrics"}``; ``best_epoch_`` and ``best_score_`` name the
    model that was kept; ``lr_`` is the learning rate at the end (after any plateau decay) and
    ``lr_schedule_`` the rate each epoch ran at, which a config's ``lr_schedule`` can replay;
    ``epoch_seconds_`` the wall time of each epoch this call trained (its batches only: no
    validation, and none of the setup before the first epoch).
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config or TrainConfig()

    def fit(
        self,
        model: Model,
        graph: Graph,
        valid: sp.csr_matrix | None = None,
    ) -> Trainer:
        """Train ``model`` in place; ``valid`` is the users x items validation matrix.

        The config's ``lr_schedule``, where set, gives the learning rate of each epoch (e.g.
        an earlier run's ``lr_schedule_``, to train again for as many epochs on more data with
        the same plateau decays).
        """
        device = torch.device(self.config.device)
        with retained_heap(self.config.retain_heap and device.type == "cpu"):
            return self._fit(model, graph, valid)

    def _fit(self, model: Model, graph: Graph, valid: sp.csr_matrix | None) -> Trainer:
        cfg = self.config
        if cfg.loss not in LOSSES and cfg.loss != FULL_SOFTMAX:
            raise ValueError(f"unknown loss {cfg.loss!r}; available: "
                             f"{', '.join([*LOSSES, FULL_SOFTMAX])}")
        if cfg.softmax_precision not in PRECISIONS:
            raise ValueError(f"softmax_precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {cfg.softmax_precision!r}")
        for option, default in (("softmax_heads", 1), ("user_weight_exponent", 0.0),
                                ("softmax_normalizer_weight", 1.0)):
            if getattr(cfg, option) != default and cfg.loss != FULL_SOFTMAX:
                raise ValueError(f"{option} applies to the {FULL_SOFTMAX!r} loss only, "
                                 f"not {cfg.loss!r}")
        dim = getattr(model, "dim", None)
        if cfg.softmax_heads < 1 or (dim is not None and dim % cfg.softmax_heads):
            raise ValueError(f"softmax_heads must be a positive divisor of the model's "
                             f"dimension ({dim}), got {cfg.softmax_heads}")
        metric_name = cfg.metric.lower()
        parse_metric(metric_name)
        eval_k = sorted(set(cfg.eval_k) | {parse_metric(metric_name)[1]})
        device = torch.device(cfg.device)
        self.softmax_precision_ = resolve_precision(cfg.softmax_precision, device)
        if cfg.loss == FULL_SOFTMAX:
            self._report_precision(device)
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        model.to(device)
        graph = graph.to(device)
        optimizer = self.optimizer_for(model)
        # Full-softmax epochs draw no negatives: no sampler (it holds two int64 indices per
        # interaction).
        sampler = None if cfg.loss == FULL_SOFTMAX else UniformSampler(graph.R, seed=cfg.seed)
        checkpoints = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None

        state: dict[str, Any] = {
            "epoch": 0,
            "best_score": -math.inf,
            "best_epoch": 0,
            "bad_validations": 0,
            "elapsed_s": 0.0,
            "history": [],
            "lrs": [],
            "stopped": False,
        }
        restored = None
        if cfg.resume and checkpoints is not None:
            restored = load_checkpoint(checkpoints, "last", model, optimizer, device)
            if restored is not None:
                state = restored
                state.setdefault("lrs", [])  # checkpoints written before lr_schedule_ existed
                log.info("resumed from %s at epoch %d", checkpoints / "last", state["epoch"])
        if restored is None:
            model.initialize(graph)
        best_weights = copy.deepcopy(model.state_dict())
        if state["best_epoch"] and checkpoints is not None:
            best_model = copy.deepcopy(model)
            if load_checkpoint(checkpoints, "best", best_model, None, device) is not None:
                best_weights = best_model.state_dict()

        started = time.perf_counter() - state["elapsed_s"]
        bar = tqdm(
            range(state["epoch"], cfg.epochs),
            desc=f"train {type(model).__name__}",
            unit="epoch",
            disable=not cfg.progress,
            leave=False,
        )
        epoch_seconds: list[float] = []
        for epoch in bar:
            if state["stopped"]:
                break
            epoch_started = time.perf_counter()
            model.train()
            if cfg.lr_schedule:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr_schedule[min(epoch, len(cfg.lr_schedule) - 1)]
            state["lrs"].append(optimizer.param_groups[0]["lr"])
            if cfg.loss == FULL_SOFTMAX:
                total_loss, n_batches = self._softmax_epoch(model, graph, optimizer, epoch)
            else:
                total_loss, n_batches = self._pairwise_epoch(model, graph, optimizer, sampler,
                                                             epoch)
            epoch_seconds.append(time.perf_counter() - epoch_started)
            state["epoch"] = epoch + 1
            state["elapsed_s"] = time.perf_counter() - started
            mean_loss = total_loss / n_batches
            if not np.isfinite(mean_loss):
                raise FloatingPointError(f"loss became {mean_loss} at epoch {epoch + 1}; lower lr")
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": mean_loss}
            if valid is not None and (epoch + 1) % cfg.eval_every == 0:
                evaluation = self._validate(model, graph, valid, eval_k)
                score = evaluation.metrics[metric_name]
                state["elapsed_s"] = time.perf_counter() - started
                record.update(elapsed_s=state["elapsed_s"], metrics=evaluation.metrics)
                state["history"].append(record)
                if score > state["best_score"]:
                    state.update(best_score=score, best_epoch=epoch + 1, bad_validations=0)
                    best_weights = copy.deepcopy(model.state_dict())
                    if checkpoints is not None:
                        save_checkpoint(checkpoints, "best", model, None, state)
                else:
                    state["bad_validations"] += 1
                    self._decay_on_plateau(optimizer, state)
                    if state["bad_validations"] >= cfg.patience:
                        state["stopped"] = True
                        log.info("early stop at epoch %d (best %s=%.4f at epoch %d)",
                                 epoch + 1, metric_name, state["best_score"], state["best_epoch"])
                bar.set_postfix(loss=f"{mean_loss:.4f}", **{metric_name: f"{score:.4f}"})
                log.info("epoch %d loss %.4f %s %.4f", epoch + 1, mean_loss, metric_name, score)
            else:
                bar.set_postfix(loss=f"{mean_loss:.4f}")
            if cfg.max_seconds is not None and state["elapsed_s"] >= cfg.max_seconds:
                state["stopped"] = True
                log.info("time budget of %.0fs reached at epoch %d", cfg.max_seconds, epoch + 1)
            if checkpoints is not None:
                save_checkpoint(checkpoints, "last", model, optimizer, state)
        bar.close()
        if valid is not None and state["best_epoch"]:
            model.load_state_dict(best_weights)
        self.history_ = state["history"]
        self.best_epoch_ = state["best_epoch"]
        self.best_score_ = state["best_score"]
        self.epochs_ = state["epoch"]
        self.elapsed_s_ = state["elapsed_s"]
        self.lr_ = optimizer.param_groups[0]["lr"]
        self.lr_schedule_ = list(state["lrs"])
        self.epoch_seconds_ = epoch_seconds
        return self

    def _pairwise_epoch(self, model: Model, graph: Graph, optimizer: torch.optim.Optimizer,
                        sampler: UniformSampler, epoch: int) -> tuple[float, int]:
        """One pass over the training interactions in (user, positive, negatives) batches."""
        cfg = self.config
        device = torch.device(cfg.device)
        per_user_negatives = 1 if cfg.shared_negatives else cfg.negatives
        users, positives, negatives = (
            torch.from_numpy(a).to(device) for a in sampler.epoch(epoch, per_user_negatives)
        )
        shared_rng = np.random.default_rng([cfg.seed, epoch, 1])
        n_batches = max(1, math.ceil(len(sampler) / cfg.batch_size))
        total_loss = 0.0
        for b in range(n_batches):
            batch = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
            u, p, q = users[batch], positives[batch], negatives[batch]
            mask = None
            if cfg.shared_negatives:
                q, mask = self._shared_negatives(sampler, u, shared_rng)
            loss = self.pairwise_loss(model, graph, u, p, q, shared_mask=mask)
            total_loss += self.step(optimizer, loss)
        return total_loss, n_batches

    def pairwise_loss(self, model: Model, graph: Graph, users: torch.Tensor,
                      positives: torch.Tensor, negatives: torch.Tensor, *,
                      shared_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one batch of a pairwise epoch (one forward pass over ``graph``): the
        config's loss of the ``(users, positives)`` scores against the ``negatives`` (batch x
        k items; or, with ``shared_mask``, k items shared by the batch, the mask marking each
        user's positives among them), plus the L2 penalty and the model's auxiliary loss.
        """
        cfg = self.config
        u, p, q = users, positives, negatives
        user_vectors, item_vectors = model(graph)
        eu = gather_rows(user_vectors, u)
        pos_scores = (eu * gather_rows(item_vectors, p)).sum(-1)
        if shared_mask is not None:
            neg_scores = (eu @ gather_rows(item_vectors, q).t()).masked_fill(shared_mask,
                                                                             -torch.inf)
            q = q[None, :]
        elif item_vectors.shape[0] <= DENSE_SCORES_PER_NEGATIVE * q.shape[1]:
            # Small catalogue: scoring every item and picking the negatives' columns
            # is one matrix product, far cheaper than gathering (and, backwards,
            # scatter-adding) a batch x negatives x dim block of item vectors.
            neg_scores = (eu @ item_vectors.t()).gather(1, q)
        else:
            neg_scores = torch.einsum("bd,bkd->bk", eu, gather_rows(item_vectors, q))
        loss = LOSSES[cfg.loss](pos_scores, neg_scores, cfg.temperature)
        if cfg.reg:  # the penalty's lookups cost as much as the loss itself
            loss = loss + cfg.reg * model.regularization(u, p, q)
        return loss + model.auxiliary_loss(u, p)

    def _softmax_epoch(self, model: Model, graph: Graph, optimizer: torch.optim.Optimizer,
                       epoch: int) -> tuple[float, int]:
        """One pass over the users with interactions, ``batch_size`` users a step, each scored
        against every item (:func:`full_softmax_loss`)."""
        cfg = self.config
        device = torch.device(cfg.device)
        R = graph.R
        active = np.flatnonzero(np.diff(R.indptr) > 0)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(active)
        n_batches = max(1, math.ceil(len(order) / cfg.batch_size))
        no_items = torch.zeros(0, dtype=torch.long, device=device)
        total_loss = 0.0
        for b in range(n_batches):
            batch_users = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            rows_of = R[batch_users]
            degrees = np.diff(rows_of.indptr)
            rows = np.repeat(np.arange(len(batch_users)), degrees)
            u = torch.from_numpy(batch_users).to(device)
            r = torch.from_numpy(rows).to(device)
            p = torch.from_numpy(rows_of.indices.astype(np.int64)).to(device)
            weights = None
            if cfg.user_weight_exponent:
                weights = torch.from_numpy(
                    degrees.astype(np.float64) ** -cfg.user_weight_exponent).to(device)
            user_vectors, item_vectors = model(graph)
            loss = full_softmax_loss(gather_rows(user_vectors, u), item_vectors, r, p,
                                     cfg.temperature, precision=self.softmax_precision_,
                                     heads=cfg.softmax_heads, row_weights=weights,
                                     normalizer_weight=cfg.softmax_normalizer_weight)
            if cfg.reg:
                loss = loss + cfg.reg * model.regularization(u, torch.unique(p), no_items)
            loss = loss + model.auxiliary_loss(u[r], p)
            total_loss += self.step(optimizer, loss)
        return total_loss, n_batches

    def _report_precision(self, device: torch.device) -> None:
        cfg = self.config
        if cfg.softmax_precision == "bfloat16" and not native_bfloat16(device):
            log.warning("softmax_precision='bfloat16' on a %s without bfloat16 products: they "
                        "are emulated and slower than full precision here; 'auto' takes "
                        "bfloat16 only where the hardware has it", device.type)
        else:
            log.info("softmax loss: %s score products (softmax_precision=%r)",
                     "bfloat16" if self.softmax_precision_ == "bfloat16" else "full-precision",
                     cfg.softmax_precision)

    def _decay_on_plateau(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        """Multiply the learning rate by ``lr_decay`` after every ``lr_decay_patience``
        validations in a row without improvement (the rate lives in the optimizer's state, so
        a resumed run keeps it)."""
        cfg = self.config
        if cfg.lr_decay_patience <= 0 or state["bad_validations"] % cfg.lr_decay_patience:
            return
        for group in optimizer.param_groups:
            group["lr"] *= cfg.lr_decay
        log.info("no improvement in %d validations: learning rate now %.3g",
                 state["bad_validations"], optimizer.param_groups[0]["lr"])

    def optimizer_for(self, model: Model) -> torch.optim.Optimizer:
        """Adam over ``model``'s parameters at the config's ``lr``, for the config's device."""
        # The fused kernel updates a parameter in one pass instead of one per Adam term
        # (a 1.2M x 64 table on 2 CPU cores: 0.29 s -> 0.04 s a step).
        fused = torch.device(self.config.device).type in ("cpu", "cuda")
        return torch.optim.Adam(model.parameters(), lr=self.config.lr, fused=fused)

    @staticmethod
    def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
        """One gradient step on ``loss``; returns its value."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def _shared_negatives(
        self, sampler: UniformSampler, users: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One draw of items for the whole batch, and the mask of (user, item) positives."""
        count = min(self.config.negatives, sampler.n_items)
        items = rng.choice(sampler.n_items, size=count, replace=False)
        mask = sampler.positive_mask(users.cpu().numpy(), items)
        return (torch.from_numpy(items).to(users.device),
                torch.from_numpy(mask).to(users.device))

    def _validate(
        self, model: Model, graph: Graph, valid: sp.csr_matrix, k: list[int]
    ):
        model.eval()
        with torch.no_grad():
            user_vectors, item_vectors = model(graph)
        return evaluate_ranking(
            dot_scorer(user_vectors, item_vectors),
            valid,
            exclude=graph.R,
            k=k,
            batch_size=self.config.eval_batch_size,
            device=user_vectors.device,
        )
