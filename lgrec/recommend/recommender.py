"""The ``Recommender`` facade: fit, evaluate, recommend, similar items, save and load.

External ids go in and come out; internal indices never leave this class.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import lgrec
from lgrec.data import Dataset, IdMap
from lgrec.eval import METRICS, evaluate_ranking, top_k
from lgrec.graph import Graph
from lgrec.models import MODELS, Model, create_model
from lgrec.recommend.cold_start import (
    fit_user_vector,
    mix_query,
    place_cold_items,
    propagate_new_user,
)
from lgrec.recommend.persistence import read_artifact, write_artifact
from lgrec.train import TrainConfig, Trainer

log = logging.getLogger(__name__)


TEXT_PARAMS = {
    "text_encoder": "all-MiniLM-L6-v2",
    "item_text": None,
    "item_template": None,
    "user_text": None,
    "user_template": None,
    "cold_neighbours": 20,
    "cold_own_weight": 0.2,
}
"""Options naming how text is built and encoded, with their defaults: ``item_text`` and
``user_text`` are side-table columns (``None``: all item columns, no user text), the templates
are ``str.format`` strings over those columns (see :func:`lgrec.text.rows_to_text`).
``cold_neighbours`` and ``cold_own_weight`` place items added from text
(:func:`lgrec.recommend.cold_start.place_cold_items`): the weight of the item's own projected
text against the vectors borrowed from its nearest trained items by text. The item's own
projection is only aligned with users' vectors when the model was trained with
``text_weight`` > 0; with it, 0.5 did better than 0.2 on MovieLens-100K's cold validation items
(``bench/cold_item.py``)."""


@dataclass
class Evidence:
    """One of the user's own items that supports a recommendation."""

    item: str
    title: str
    contribution: float
    """Share of the graph signal: ``(e_j . e_i) / sqrt(d_j + 1)``, the weight item ``j`` gets
    in the user's first propagation layer times its agreement with the recommended item."""
    co_users: int
    """Users who interacted with both items: paths user -> j -> other user -> item."""
    text_similarity: float | None
    """Cosine between the two items' text vectors (None when there is no text)."""


@dataclass
class Explanation:
    """Why ``item`` is recommended to ``user``: graph evidence, text evidence, a sentence."""

    user: str
    item: str
    title: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    sentence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        skip = TrainConfig.field_names() | set(TEXT_PARAMS)
        return {k: v for k, v in self.params.items() if k not in skip}

    def _text_params(self) -> dict[str, Any]:
        return {k: self.params.get(k, default) for k, default in TEXT_PARAMS.items()}

    # ----------------------------------------------------------------- text
    def _encoder(self):
        if getattr(self, "encoder_", None) is None:
            from lgrec.text import CachedEncoder, load_encoder

            self.encoder_ = CachedEncoder(load_encoder(self.text_params_["text_encoder"]))
        return self.encoder_

    def _texts(self, table: pd.DataFrame | None, ids: np.ndarray, kind: str) -> list[str]:
        from lgrec.text import rows_to_text

        if table is None or table.empty:
            raise ValueError(f"model {self.model!r} needs {kind} text: the dataset has no {kind} table")
        aligned = table.reindex(pd.Index([str(i) for i in ids]))
        missing = int(aligned.isna().all(axis=1).sum())
        if missing:
            log.warning("%d %ss have no row in the %s table; their text is empty", missing,
                        kind, kind)
        columns = self.text_params_[f"{kind}_text"]
        template = self.text_params_[f"{kind}_template"]
        return rows_to_text(aligned, columns, template=template)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(self._encoder().encode(texts))

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
        self.text_params_ = self._text_params()
        self.encoder_ = None
        text_inputs: dict[str, torch.Tensor] = {}
        if getattr(MODELS.get(self.model), "needs_text", False):
            text_inputs["item_text"] = self._encode(
                self._texts(train.items, train.item_ids.external, "item")
            )
            if self.text_params_["user_text"] or self.text_params_["user_template"]:
                text_inputs["user_text"] = self._encode(
                    self._texts(train.users, train.user_ids.external, "user")
                )
        model = create_model(
            self.model, train.n_users, train.n_items, **self._model_params(), **text_inputs
        )
        valid_matrix = self.interaction_matrix(valid) if valid is not None and len(valid) else None
        self.history_: list[dict[str, Any]] = []
        self.best_epoch_ = self.epochs_ = 0
        self.lr_schedule_: list[float] = []
        if model.trainable:
            trainer = Trainer(config).fit(model, graph, valid_matrix)
            self.history_ = trainer.history_
            self.best_epoch_ = trainer.best_epoch_
            self.epochs_ = trainer.epochs_
            self.lr_schedule_ = trainer.lr_schedule_
        else:
            model.fit_closed_form(graph.R)
        self._keep_fitted(model, graph)
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
        self.refit_seconds_ = 0.0
        self.refit_epochs_ = 0
        if config.refit and valid_matrix is not None:
            started = time.perf_counter()
            if model.trainable:
                self.refit_epochs_ = self.best_epoch_ or self.epochs_
            self._refit(config, self.seen_, text_inputs)
            self.refit_seconds_ = time.perf_counter() - started
            self.fit_seconds_ += self.refit_seconds_
        log.info("fitted %s in %.1fs", self.model, self.fit_seconds_)
        return self

    def _keep_fitted(self, model: Model, graph: Graph) -> None:
        """Keep ``model`` and the vectors it gives over ``graph`` for ranking and serving."""
        model.to("cpu").eval()
        with torch.no_grad():
            users, items = model(graph.to("cpu"))
            self.item_layers_ = (
                model.item_layers(graph.to("cpu")).detach() if hasattr(model, "item_layers")
                else None
            )
        self.item_degree_ = torch.from_numpy(np.asarray(graph.R.sum(axis=0)).ravel()).float()
        self.model_ = model
        self.user_vectors_ = users.detach().clone()
        self.item_vectors_ = items.detach().clone()

    def _refit(self, config: TrainConfig, interactions: sp.csr_matrix,
               text_inputs: dict[str, torch.Tensor]) -> None:
        """Fit a fresh model on ``interactions`` (training and validation together) with what
        validation chose: ``refit_epochs_`` epochs (the best validation epoch, or every epoch
        run where none was better) at the learning rate each of those epochs had.
        """
        graph = Graph.from_csr(interactions)
        torch.manual_seed(config.seed)
        model = create_model(self.model, *interactions.shape, **self._model_params(),
                             **text_inputs)
        if model.trainable:
            epochs = self.refit_epochs_
            log.info("refitting %s on training and validation interactions for %d epochs",
                     self.model, epochs)
            again = replace(config, epochs=epochs, lr_schedule=tuple(self.lr_schedule_[:epochs]),
                            max_seconds=None, checkpoint_dir=None, resume=False)
            Trainer(again).fit(model, graph, None)
        else:
            model.fit_closed_form(graph.R)
        self._keep_fitted(model, graph)

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
            self.interaction_matrix(test), self.seen_ if exclude_seen else None, ks, metrics
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
        device = self._evaluation_device()
        self.model_.to(device)
        try:
            evaluation = evaluate_ranking(
                self._scorer(device),
                truth,
                exclude=exclude,
                k=k,
                metrics=metrics,
                device=device,
            )
        finally:
            self.model_.to("cpu")  # serving and saving read the CPU copy
        return evaluation.metrics

    def _evaluation_device(self) -> torch.device:
        """The training device when it is a GPU that this machine has, else the CPU: a model
        trained on CUDA is evaluated there, one loaded on a CPU-only machine here."""
        config = getattr(self, "train_config_", None)
        if config is not None and config.device.startswith("cuda") and torch.cuda.is_available():
            return torch.device(config.device)
        return torch.device("cpu")

    def interaction_matrix(self, data: Dataset) -> sp.csr_matrix:
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
            self._scorer(),
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

    # ------------------------------------------------------------ cold start
    def fold_in(
        self, user: Any, items: Iterable[Any] | None = None, *, text: str | None = None
    ) -> Recommender:
        """Give ``user`` a vector from a few interactions and/or a text, without retraining.

        A known user's history is extended with ``items``; an unknown one is added. Graph
        models run the propagation for this one node (see :mod:`lgrec.recommend.cold_start`);
        text alone needs a text model. Returns ``self`` so calls chain.
        """
        self._check_fitted()
        user = str(user)
        new_items = self.item_ids_.to_internal([] if items is None else list(items), kind="item")
        known = user in self.user_ids_
        row = int(self.user_ids_.to_internal([user])[0]) if known else None
        history = np.union1d(self.seen_[row].indices if known else [], new_items).astype(np.int64)
        if not len(history) and text is None:
            raise ValueError("fold_in needs items, text or both")
        vector = self._fold_in_vector(history, text)
        if known:
            self.user_vectors_[row] = vector
        else:
            self.user_ids_ = self.user_ids_.extended([user])
            self.user_vectors_ = torch.cat([self.user_vectors_, vector[None]])
            row = len(self.user_ids_) - 1
        seen = self.seen_ if known else sp.vstack([self.seen_, sp.csr_matrix((1, len(self.item_ids_)))])
        seen = seen.tolil()
        seen.rows[row] = sorted(history.tolist())
        seen.data[row] = [1.0] * len(history)
        self.seen_ = seen.tocsr()
        return self

    def _fold_in_vector(self, history: np.ndarray, text: str | None) -> torch.Tensor:
        model = self.model_
        text_vector = None
        if text is not None:
            if not model.needs_text:
                raise ValueError(f"model {self.model!r} cannot use text; train a text model")
            with torch.no_grad():
                text_vector = model.project_users(self._encode([text]))[0]
        if self.item_layers_ is not None:
            items = torch.from_numpy(history)
            layer0 = (
                self.item_layers_[0, items].mean(0)
                if len(history)
                else torch.zeros(self.item_layers_.shape[2])
            )
            if text_vector is not None:
                layer0 = layer0 + text_vector
            vector = propagate_new_user(self.item_layers_, self.item_degree_, items, layer0,
                                        getattr(model, "target_exponent", 0.5),
                                        getattr(model, "source_exponent", 0.5))
            if getattr(model, "normalize", False):  # the model scores by cosine
                vector = torch.nn.functional.normalize(vector, dim=0)
            return vector
        if text_vector is not None:
            raise ValueError(f"model {self.model!r} cannot fold in users from text")
        return fit_user_vector(self.item_vectors_, history, seed=self.train_config_.seed)

    def add_items(self, items: pd.DataFrame) -> list[str]:
        """Make new items recommendable from their text alone, without retraining.

        ``items`` is a side table indexed by the new external ids (or with the item id column
        the training table used as index) holding the text columns. Returns the ids added.
        """
        self._check_fitted()
        if not self.model_.needs_text:
            raise ValueError(f"model {self.model!r} cannot place items from text; use a text model")
        table = items.copy()
        table.index = table.index.astype(str)
        fresh = [i for i in table.index if i not in self.item_ids_]
        if len(fresh) != len(table):
            raise ValueError("add_items got ids the model already has: "
                             + ", ".join(i for i in table.index if i in self.item_ids_))
        text = self._encode(self._texts(table, np.asarray(fresh), "item"))
        with torch.no_grad():
            layer0 = self.model_.project_items(text)
        vectors = place_cold_items(
            layer0, text, self.model_.item_text, self.item_vectors_[: self.model_.n_items],
            neighbours=self.text_params_["cold_neighbours"],
            own_weight=self.text_params_["cold_own_weight"],
        )
        self.item_ids_ = self.item_ids_.extended(fresh)
        self.item_vectors_ = torch.cat([self.item_vectors_, vectors])
        if self.item_layers_ is not None:
            extra = torch.zeros(self.item_layers_.shape[0], len(fresh), self.item_layers_.shape[2])
            extra[0] = layer0
            self.item_layers_ = torch.cat([self.item_layers_, extra], dim=1)
        self.item_degree_ = torch.cat([self.item_degree_, torch.zeros(len(fresh))])
        self.seen_ = sp.hstack([self.seen_, sp.csr_matrix((self.seen_.shape[0], len(fresh)))]).tocsr()
        if self.items_ is not None:
            self.items_ = pd.concat([self.items_, table[self.items_.columns.intersection(table.columns)]])
        return fresh

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        user: Any | None = None,
        alpha: float = 0.5,
        exclude_seen: bool = True,
    ) -> list[ScoredItem]:
        """Items for a request in natural language, optionally personalised for ``user``.

        The query is encoded, projected into the embedding space and, with a user, mixed with
        the user's vector: ``(1 - alpha) * e_u + alpha * e_query`` on unit vectors.
        """
        self._check_fitted()
        if not self.model_.needs_text:
            raise ValueError(f"model {self.model!r} cannot read requests; use a text model")
        with torch.no_grad():
            query_vector = self.model_.project_items(self._encode([query]))[0]
        row = None
        user_vector = None
        if user is not None:
            row = int(self.user_ids_.to_internal([user], kind="user")[0])
            user_vector = self.user_vectors_[row]
        target = mix_query(user_vector, query_vector, alpha)
        exclude = self.seen_[[row]] if (row is not None and exclude_seen) else None
        top, scores = top_k(lambda _: (self.item_vectors_ @ target)[None], np.zeros(1, dtype=np.int64),
                            k, exclude)
        return self._scored(top[0], scores[0])

    # ---------------------------------------------------------- explanation
    def explain(
        self, user: Any, item: Any, *, top: int = 3, llm: Any | None = None
    ) -> Explanation:
        """Evidence for recommending ``item`` to ``user``: the user's items that support it
        most through the graph (with path counts and text similarity) and, when ``llm`` is a
        generative backend (or a name for :func:`lgrec.text.load_llm`), one sentence."""
        self._check_fitted()
        row = int(self.user_ids_.to_internal([user], kind="user")[0])
        column = int(self.item_ids_.to_internal([item], kind="item")[0])
        history = self.seen_[row].indices
        score = float(self.user_vectors_[row] @ self.item_vectors_[column])
        title = self.item_titles([item])[0]
        result = Explanation(str(user), str(item), title, score)
        if not len(history):
            return result
        agreement = self.item_vectors_[torch.from_numpy(history)] @ self.item_vectors_[column]
        degree = self.item_degree_[torch.from_numpy(np.minimum(history, len(self.item_degree_) - 1))]
        contribution = (agreement / torch.sqrt(degree + 1)).numpy()
        co_users = np.asarray(
            (self.seen_[:, history].T @ self.seen_[:, [column]]).todense()
        ).ravel()
        order = np.argsort(-contribution)[:top]
        chosen = history[order]
        text_similarity = self._text_similarity(chosen, column)
        external = self.item_ids_.to_external(chosen)
        titles = self.item_titles(external)
        for rank, position in enumerate(order):
            result.evidence.append(Evidence(
                str(external[rank]), titles[rank], float(contribution[position]),
                int(co_users[position]),
                None if text_similarity is None else float(text_similarity[rank]),
            ))
        if llm is not None:
            from lgrec.text import explain_recommendation, load_llm

            backend = load_llm(llm) if isinstance(llm, str) else llm
            result.sentence = explain_recommendation(backend, title, titles).text
        return result

    def _text_similarity(self, items: np.ndarray, item: int) -> np.ndarray | None:
        model = self.model_
        if model.needs_text and max(items.max(), item) < model.n_items:
            vectors = model.item_text[torch.from_numpy(np.append(items, item))]
        elif self.items_ is not None and not self.items_.empty:
            ids = self.item_ids_.to_external(np.append(items, item))
            vectors = self._encode(self._texts(self.items_, ids, "item"))
        else:
            return None
        vectors = torch.nn.functional.normalize(vectors.float(), dim=1)
        return (vectors[:-1] @ vectors[-1]).numpy()

    # --------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write the fitted model to ``directory`` atomically (safetensors + JSON, no pickle)."""
        self._check_fitted()
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        tensors["vectors.users"] = self.user_vectors_
        tensors["vectors.items"] = self.item_vectors_
        tensors["foldin.degree"] = self.item_degree_
        if self.item_layers_ is not None:
            tensors["foldin.layers"] = self.item_layers_
        config = {
            "lgrec_version": lgrec.__version__,
            "model": self.model,
            "model_params": self.model_.params(),
            "train_config": self.train_config_.to_dict(),
            "text": self.text_params_,
            "model_users": self.model_.n_users,
            "model_items": self.model_.n_items,
            "n_users": len(self.user_ids_),
            "n_items": len(self.item_ids_),
            "fit_seconds": self.fit_seconds_,
            "refit_seconds": self.refit_seconds_,
            "refit_epochs": self.refit_epochs_,
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
        # Defaults first: a model saved before an option existed loads with its default.
        text_params = {**TEXT_PARAMS, **config.get("text", {})}
        rec = cls(config["model"], config=train_config, **config["model_params"], **text_params)
        model = create_model(config["model"], config.get("model_users", config["n_users"]),
                             config.get("model_items", config["n_items"]),
                             **config["model_params"])
        tensors = artifact["tensors"]
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        model.eval()
        rec.model_ = model
        rec.user_vectors_ = tensors["vectors.users"]
        rec.item_vectors_ = tensors["vectors.items"]
        rec.item_degree_ = tensors["foldin.degree"]
        rec.item_layers_ = tensors.get("foldin.layers")
        rec.text_params_ = text_params
        rec.encoder_ = None
        rec.user_ids_ = IdMap(artifact["user_ids"])
        rec.item_ids_ = IdMap(artifact["item_ids"])
        rec.seen_ = artifact["seen"]
        rec.items_ = artifact["items"]
        rec.users_ = artifact["users"]
        rec.train_config_ = train_config
        rec.history_ = artifact["metrics"].get("history", [])
        rec.metrics_ = {k: v for k, v in artifact["metrics"].items() if k != "history"}
        rec.fit_seconds_ = config.get("fit_seconds", 0.0)
        rec.refit_seconds_ = config.get("refit_seconds", 0.0)
        rec.refit_epochs_ = config.get("refit_epochs", 0)
        rec.best_epoch_ = config.get("best_epoch", 0)
        rec.epochs_ = config.get("epochs", 0)
        return rec

    def _scorer(self, device: torch.device | str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
        """Scores of a batch of user rows against all items: the model's own
        :meth:`~lgrec.models.Model.score_users` (a dot product of the stored vectors unless the
        model scores otherwise, like the graph filter), with the vectors on ``device`` (the
        model must already be there)."""
        model = self.model_
        users, items = self.user_vectors_.to(device), self.item_vectors_.to(device)
        return lambda rows: model.score_users(rows, users, items)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Recommender is not fitted yet: call fit() or load()")


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
