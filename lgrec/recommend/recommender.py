"""The ``Recommender`` facade: fit, evaluate, recommend, similar items, save and load.

External ids go in and come out; internal indices never leave this class.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import lgrec
from lgrec.data import Dataset, IdMap
from lgrec.eval import METRICS, dot_scorer, evaluate_ranking, top_k
from lgrec.graph import Graph
from lgrec.models import create_model
from lgrec.recommend.persistence import read_artifact, write_artifact
from lgrec.train import TrainConfig, Trainer

log = logging.getLogger(__name__)


class ScoredItem(NamedTuple):
    """One recommended item: its external id and the model's score."""

    item: str
    score: float


class Recommender:
    """Train, evaluate and query a model by name.

    ``params`` mixes model parameters (``dim``, ``layers``, ...) and training options (any
    field of :class:`TrainConfig`, e.g. ``epochs=100, lr=0.01``); ``config`` gives the
    training options as one object instead.

    >>> rec = Recommender("lightgcn", dim=64, layers=3).fit(train, valid=valid)
    >>> rec.evaluate(test, k=[10, 20])
    >>> rec.recommend(["196", "186"], k=10)
    """

    def __init__(
        self, model: str = "lightgcn", *, config: TrainConfig | None = None, **params: Any
    ) -> None:
        self.model = model
        self.config = config
        self.params = params

    # --------------------------------------------------------------- params
    def get_params(self) -> dict[str, Any]:
        return {"model": self.model, "config": self.config, **self.params}

    def _train_config(self) -> TrainConfig:
        base = (self.config or TrainConfig()).to_dict()
        overrides = {k: v for k, v in self.params.items() if k in TrainConfig.field_names()}
        return TrainConfig.from_dict({**base, **overrides})

    def _model_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k not in TrainConfig.field_names()}

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, valid: Dataset | None = None) -> Recommender:
        """Learn from ``train``; ``valid`` drives early stopping and best-model selection."""
        config = self._train_config()
        torch.manual_seed(config.seed)
        self.user_ids_: IdMap = train.user_ids
        self.item_ids_: IdMap = train.item_ids
        started = time.perf_counter()
        graph = Graph.from_interactions(
            train.users_array, train.items_array, train.n_users, train.n_items
        )
        model = create_model(self.model, train.n_users, train.n_items, **self._model_params())
        valid_matrix = self._matrix(valid) if valid is not None and len(valid) else None
        self.history_: list[dict[str, Any]] = []
        if model.trainable:
            trainer = Trainer(config).fit(model, graph, valid_matrix)
            self.history_ = trainer.history_
            self.best_epoch_ = trainer.best_epoch_
            self.epochs_ = trainer.epochs_
        else:
            model.fit_closed_form(graph.R)
            self.best_epoch_ = self.epochs_ = 0
        model.to("cpu").eval()
        with torch.no_grad():
            users, items = model(graph.to("cpu"))
        self.model_ = model
        self.user_vectors_ = users.detach().clone()
        self.item_vectors_ = items.detach().clone()
        self.train_config_ = config
        seen = graph.R if valid_matrix is None else graph.R + valid_matrix
        self.seen_ = _binary(seen)
        self.items_ = train.items
        self.users_ = train.users
        self.fit_seconds_ = time.perf_counter() - started
        self.metrics_: dict[str, Any] = {}
        if valid_matrix is not None and not self.history_:
            self.metrics_["valid"] = self._evaluate_matrix(
                valid_matrix, graph.R, config.eval_k, METRICS
            )
        log.info("fitted %s in %.1fs", self.model, self.fit_seconds_)
        return self

    # ------------------------------------------------------------- evaluate
    def evaluate(
        self,
        test: Dataset,
        k: Sequence[int] | int = (10, 20),
        *,
        metrics: Sequence[str] = METRICS,
        exclude_seen: bool = True,
    ) -> dict[str, float]:
        """Full-ranking metrics on ``test``, averaged over its users.

        Every item is a candidate except, with ``exclude_seen``, the user's training and
        validation items. Users or items unknown to the model are skipped (and logged).
        """
        self._check_fitted()
        ks = [k] if isinstance(k, int) else list(k)
        result = self._evaluate_matrix(
            self._matrix(test), self.seen_ if exclude_seen else None, ks, metrics
        )
        self.metrics_["test"] = result
        return result

    def _evaluate_matrix(
        self,
        truth: sp.csr_matrix,
        exclude: sp.csr_matrix | None,
        k: Sequence[int],
        metrics: Sequence[str],
    ) -> dict[str, float]:
        evaluation = evaluate_ranking(
            dot_scorer(self.user_vectors_, self.item_vectors_),
            truth,
            exclude=exclude,
            k=k,
            metrics=metrics,
        )
        return evaluation.metrics

    def _matrix(self, data: Dataset) -> sp.csr_matrix:
        """``data``'s interactions as a users x items matrix in this model's index space."""
        if data.user_ids == self.user_ids_ and data.item_ids == self.item_ids_:
            users, items = data.users_array, data.items_array
        else:
            users = self.user_ids_.lookup(data.user_ids.to_external(data.users_array))
            items = self.item_ids_.lookup(data.item_ids.to_external(data.items_array))
            known = (users >= 0) & (items >= 0)
            if not known.all():
                log.warning("%d interactions name users or items the model does not know; "
                            "skipped", int((~known).sum()))
            users, items = users[known], items[known]
        matrix = sp.csr_matrix(
            (np.ones(len(users), dtype=np.float32), (users, items)),
            shape=(len(self.user_ids_), len(self.item_ids_)),
        )
        return _binary(matrix)

    # ------------------------------------------------------------ recommend
    def recommend(
        self,
        users: str | Iterable[Any],
        k: int = 10,
        *,
        exclude_seen: bool = True,
    ) -> list[list[ScoredItem]] | list[ScoredItem]:
        """Top-``k`` items for each user, aligned with ``users``.

        A single id (a string) gives one list; a list of ids gives a list of lists. An unknown
        user raises ``KeyError`` naming it.
        """
        self._check_fitted()
        single = isinstance(users, str | int)
        ids = [users] if single else list(users)
        index = self.user_ids_.to_internal(ids, kind="user")
        top, scores = top_k(
            dot_scorer(self.user_vectors_, self.item_vectors_),
            index,
            k,
            self.seen_ if exclude_seen else None,
        )
        result = [self._scored(row, values) for row, values in zip(top, scores, strict=True)]
        return result[0] if single else result

    def similar_items(
        self, items: str | Iterable[Any], k: int = 10
    ) -> list[list[ScoredItem]] | list[ScoredItem]:
        """The ``k`` items whose vectors are closest (cosine) to each given item's, itself excluded."""
        self._check_fitted()
        single = isinstance(items, str | int)
        ids = [items] if single else list(items)
        index = self.item_ids_.to_internal(ids, kind="item")
        normalised = torch.nn.functional.normalize(self.item_vectors_, dim=1)
        itself = sp.csr_matrix(
            (np.ones(len(index), dtype=np.float32), (np.arange(len(index)), index)),
            shape=(len(index), len(self.item_ids_)),
        )
        query = normalised[torch.from_numpy(index)]
        top, scores = top_k(
            lambda rows: query[rows] @ normalised.t(), np.arange(len(index)), k, itself
        )
        result = [self._scored(row, values) for row, values in zip(top, scores, strict=True)]
        return result[0] if single else result

    def _scored(self, row: np.ndarray, values: np.ndarray) -> list[ScoredItem]:
        keep = np.isfinite(values)
        external = self.item_ids_.to_external(row[keep])
        return [ScoredItem(str(i), float(s)) for i, s in zip(external, values[keep], strict=True)]

    def item_titles(self, items: Iterable[Any], column: str | None = None) -> list[str]:
        """Display titles for items from the item side table (the id itself when there is none)."""
        ids = [str(i) for i in items]
        if self.items_ is None or self.items_.empty:
            return ids
        table = Dataset(pd.DataFrame({"user": [], "item": []}), self.user_ids_, self.item_ids_,
                        items=self.items_)
        titles = table.item_titles(column)
        return [titles.get(i, i) for i in ids]

    # --------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write the fitted model to ``directory`` atomically (safetensors + JSON, no pickle)."""
        self._check_fitted()
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        tensors["vectors.users"] = self.user_vectors_
        tensors["vectors.items"] = self.item_vectors_
        config = {
            "lgrec_version": lgrec.__version__,
            "model": self.model,
            "model_params": self.model_.params(),
            "train_config": self.train_config_.to_dict(),
            "n_users": len(self.user_ids_),
            "n_items": len(self.item_ids_),
            "fit_seconds": self.fit_seconds_,
            "best_epoch": self.best_epoch_,
            "epochs": self.epochs_,
        }
        write_artifact(
            directory,
            config=config,
            user_ids=self.user_ids_.external,
            item_ids=self.item_ids_.external,
            tensors=tensors,
            seen=self.seen_,
            metrics={"history": self.history_, **self.metrics_},
            items=self.items_,
            users=self.users_,
        )
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load a model written by :meth:`save`."""
        artifact = read_artifact(directory)
        config = artifact["config"]
        train_config = TrainConfig.from_dict(config["train_config"])
        rec = cls(config["model"], config=train_config, **config["model_params"])
        model = create_model(config["model"], config["n_users"], config["n_items"],
                             **config["model_params"])
        tensors = artifact["tensors"]
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        model.eval()
        rec.model_ = model
        rec.user_vectors_ = tensors["vectors.users"]
        rec.item_vectors_ = tensors["vectors.items"]
        rec.user_ids_ = IdMap(artifact["user_ids"])
        rec.item_ids_ = IdMap(artifact["item_ids"])
        rec.seen_ = artifact["seen"]
        rec.items_ = artifact["items"]
        rec.users_ = artifact["users"]
        rec.train_config_ = train_config
        rec.history_ = artifact["metrics"].get("history", [])
        rec.metrics_ = {k: v for k, v in artifact["metrics"].items() if k != "history"}
        rec.fit_seconds_ = config.get("fit_seconds", 0.0)
        rec.best_epoch_ = config.get("best_epoch", 0)
        rec.epochs_ = config.get("epochs", 0)
        return rec

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Recommender is not fitted yet: call fit() or load()")


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
