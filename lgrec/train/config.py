"""Typed training configuration; the CLI and TOML config files map onto it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TrainConfig:
    """How a model is trained. Every field has one meaning and a sensible default."""

    epochs: int = 300
    """Upper bound on passes over the training interactions."""
    batch_size: int = 2048
    """(user, positive, negatives) triples per gradient step; users per step for the
    ``softmax`` loss."""
    lr: float = 0.005
    """Adam learning rate."""
    reg: float = 1e-4
    """Weight of the L2 penalty on the layer-0 embeddings a batch touches."""
    loss: str = "bpr"
    """Training loss: ``bpr``, ``infonce`` (sampled softmax), ``bce``, or ``softmax``: the full
    softmax of each user's positives over every item, with batches of users and no negative
    sampling (an epoch costs users x items scores, computed a block at a time)."""
    negatives: int = 1
    """Negative items sampled per positive (InfoNCE wants several)."""
    shared_negatives: bool = False
    """Draw the ``negatives`` once per batch and share them across its users: scores become
    one matrix product instead of a gather per user, far faster for many negatives. A user's
    own positives among them are masked out."""
    temperature: float = 0.2
    """Softmax temperature of the ``infonce`` and ``softmax`` losses."""
    softmax_precision: str = "full"
    """Precision of the ``softmax`` loss's users x items matrix products: ``full`` (the
    embeddings' own, float32), ``bfloat16`` (about twice as fast on CPUs with AVX512-BF16
    and on GPUs, slower on CPUs without them; gradients within about 2%), or ``auto``:
    bfloat16 where the device has bfloat16 products, else full (:mod:`lgrec.train.precision`)."""
    softmax_heads: int = 1
    """Split the embedding dimensions into this many equal blocks and apply the ``softmax``
    loss to each block's scores, summed (:func:`lgrec.train.losses.full_softmax_loss`): the
    same as training this many narrower models on the same batches and ranking by the sum of
    their scores. 1: one softmax over the whole dot product."""
    softmax_normalizer_weight: float = 1.0
    """Weight of the ``softmax`` loss's log-partition term against its positives' scores
    (:func:`lgrec.train.losses.full_softmax_loss`'s ``normalizer_weight``; BSL's reweighting).
    1: the plain softmax; below 1 the scores keep more of the items' popularity."""
    user_weight_exponent: float = 0.0
    """In the ``softmax`` loss, each positive of user ``u`` weighs ``deg(u) ** -exponent``
    (``deg``: the user's training interactions; the loss stays a weighted mean). 0: every
    interaction weighs the same, so heavy users dominate; 1: every user weighs the same, as
    in the full-ranking metrics, which average over users."""
    eval_every: int = 1
    """Validate every this many epochs (when a validation set is given)."""
    patience: int = 10
    """Stop after this many validations without improvement of ``metric``."""
    lr_decay_patience: int = 0
    """Multiply the learning rate by ``lr_decay`` after this many validations in a row without
    improvement (and again after as many more); 0 keeps it constant. Lower than ``patience``
    to settle into a plateau before stopping."""
    lr_decay: float = 0.5
    """Factor applied to the learning rate on a plateau (see ``lr_decay_patience``)."""
    lr_schedule: tuple[float, ...] | None = None
    """The learning rate of each epoch, in place of ``lr`` (epochs past its end keep its last
    rate): to train without validation on a schedule an earlier validated run arrived at, e.g.
    by its plateau decays. ``None``: ``lr``, decayed on plateaus as above."""
    metric: str = "ndcg@10"
    """Validation metric for early stopping and best-model selection."""
    eval_k: tuple[int, ...] = (10, 20)
    """Cut-offs computed at every validation."""
    seed: int = 2020
    """Seed for initialisation and negative sampling; runs with the same seed are identical."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``cuda:N``."""
    checkpoint_dir: str | None = None
    """Where to write the last and best checkpoints; ``None`` keeps them in memory only."""
    resume: bool = False
    """Continue from the last checkpoint in ``checkpoint_dir`` when one exists."""
    max_seconds: float | None = None
    """Stop after this much training time (validation included), keeping the best model."""
    refit: bool = False
    """Once validation has chosen the epoch count (and the learning rate of each epoch), train
    a fresh model on the training and validation interactions together for that many epochs
    and keep it, as one does before serving; a closed-form model is fitted again on both.
    Validation metrics stay those of the first fit, the only ones measured on unseen data.
    ``max_seconds`` bounds the first fit; the second costs about its best epoch's share."""
    threads: int | None = None
    """CPU threads for torch; ``None`` keeps torch's default. On small graphs or shared
    machines 1 thread is often fastest (no synchronisation between cores)."""
    retain_heap: bool = True
    """While training on the CPU, keep freed memory in the process's heap rather than
    returning it to the system (glibc's ``malloc``; see :mod:`lgrec.train.heap`): every step
    allocates and frees the same large tables, and each one fetched from the system again is
    page-faulted and zero-filled again. The memory goes back when :meth:`Trainer.fit` ends.
    Measured (BENCHMARKS.md, "retained-heap"): LightGCN steps 0.63-0.85 of the time, peak
    memory up to a third higher (19.2M edges: 4.06 -> 5.30 GiB); turn it off where memory is
    tighter than time."""
    progress: bool = True
    """Show a progress bar."""
    eval_batch_size: int = 1024
    """Users per batch in full-ranking validation (memory is this times n_items scores)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Model-specific training options (reserved for losses with extra knobs)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["eval_k"] = list(self.eval_k)
        if self.lr_schedule is not None:
            out["lr_schedule"] = list(self.lr_schedule)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        values = dict(values)
        if "eval_k" in values:
            values["eval_k"] = tuple(int(k) for k in values["eval_k"])
        if values.get("lr_schedule") is not None:
            values["lr_schedule"] = tuple(float(lr) for lr in values["lr_schedule"])
        return cls(**values)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}
