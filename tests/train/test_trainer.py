"""Trainer: learning happens, early stopping, checkpoints and resume reproduce a straight run."""

from __future__ import annotations

import logging
import math

import pytest
import torch

import lgrec.train.precision as precision
from lgrec.graph import Graph
from lgrec.models import create_model
from lgrec.train import TrainConfig, Trainer


def graph_of(ds):
    return Graph.from_interactions(ds.users_array, ds.items_array, ds.n_users, ds.n_items)


def train(split, epochs, **options):
    train_set, valid_set, _ = split
    torch.manual_seed(0)
    model = create_model("mf", train_set.n_users, train_set.n_items, dim=16)
    config = TrainConfig(epochs=epochs, lr=0.01, progress=False, threads=1, **options)
    trainer = Trainer(config).fit(model, graph_of(train_set), valid_set.csr())
    return model, trainer


def test_validation_improves_over_training(ml100k_split):
    _, trainer = train(ml100k_split, 4)
    scores = [record["metrics"]["ndcg@10"] for record in trainer.history_]
    assert len(scores) == 4 and scores[-1] > scores[0]
    assert all(r["elapsed_s"] > 0 for r in trainer.history_)
    # Each epoch's own time: its batches, without the validation pass that follows it.
    assert len(trainer.epoch_seconds_) == 4 and all(s > 0 for s in trainer.epoch_seconds_)
    assert sum(trainer.epoch_seconds_) < trainer.history_[-1]["elapsed_s"]


def test_resume_reproduces_an_uninterrupted_run(ml100k_split, tmp_path):
    straight, _ = train(ml100k_split, 4)
    train(ml100k_split, 2, checkpoint_dir=str(tmp_path))
    assert (tmp_path / "last" / "model.safetensors").exists()
    resumed, trainer = train(ml100k_split, 4, checkpoint_dir=str(tmp_path), resume=True)
    assert trainer.epochs_ == 4 and len(trainer.history_) == 4
    assert len(trainer.epoch_seconds_) == 2  # the epochs this call trained
    for name, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[name], atol=1e-6), name


def test_early_stopping_keeps_the_best_model(ml100k_split):
    # Without L2, MF at this learning rate overfits within a few epochs: patience 2 stops it.
    model, trainer = train(ml100k_split, 50, patience=2, reg=0.0)
    assert trainer.epochs_ < 50
    best = max(r["metrics"]["ndcg@10"] for r in trainer.history_)
    assert trainer.best_score_ == best
    assert trainer.epochs_ - trainer.best_epoch_ <= 2


def test_dense_and_gathered_negative_scores_train_the_same_model(ml100k_split, monkeypatch):
    from lgrec.train import trainer as trainer_module

    options = dict(loss="infonce", negatives=8, temperature=0.2)
    monkeypatch.setattr(trainer_module, "DENSE_SCORES_PER_NEGATIVE", 10**9)
    dense, _ = train(ml100k_split, 2, **options)
    monkeypatch.setattr(trainer_module, "DENSE_SCORES_PER_NEGATIVE", 0)
    gathered, _ = train(ml100k_split, 2, **options)
    for name, value in dense.state_dict().items():
        assert torch.allclose(value, gathered.state_dict()[name], atol=1e-4), name


@pytest.mark.parametrize("precision", ["full", "bfloat16", "auto"])
def test_full_softmax_training_learns(ml100k_split, precision):
    _, trainer = train(ml100k_split, 4, loss="softmax", batch_size=256, reg=0.0,
                       softmax_precision=precision)
    scores = [record["metrics"]["ndcg@10"] for record in trainer.history_]
    assert len(scores) == 4 and scores[-1] > scores[0]


def test_trainer_warns_of_emulated_bfloat16_and_resolves_auto(monkeypatch, caplog,
                                                               ml100k_split):
    monkeypatch.setattr(precision, "_cpu_has_bfloat16", lambda: False)
    with caplog.at_level(logging.INFO, logger="lgrec.train.trainer"):
        assert train(ml100k_split, 1, loss="softmax")[1].softmax_precision_ == "full"
        assert train(ml100k_split, 1, loss="softmax",
                     softmax_precision="auto")[1].softmax_precision_ == "full"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert train(ml100k_split, 1, loss="softmax",
                     softmax_precision="bfloat16")[1].softmax_precision_ == "bfloat16"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "emulated" in warnings[0]


def test_unknown_softmax_precision_is_refused_before_training(ml100k_split):
    with pytest.raises(ValueError, match="softmax_precision"):
        train(ml100k_split, 1, loss="softmax", softmax_precision="fp8")


def test_softmax_heads_train_each_block_as_a_model_of_its_own(ml100k_split):
    # With Adam and the per-coordinate L2 term, two heads of 8 dimensions are two 8-dimensional
    # models trained on the same batches: the first block of the 16-dimensional model ends
    # where an 8-dimensional model started from that block's values ends.
    train_set, _, _ = ml100k_split
    graph = graph_of(train_set)
    config = dict(epochs=2, lr=0.01, loss="softmax", batch_size=256, reg=0.01, progress=False,
                  threads=1)
    torch.manual_seed(0)
    wide = create_model("mf", train_set.n_users, train_set.n_items, dim=16)
    narrow = create_model("mf", train_set.n_users, train_set.n_items, dim=8)
    narrow.load_state_dict({name: value[:, :8].clone()
                            for name, value in wide.state_dict().items()})
    Trainer(TrainConfig(softmax_heads=2, **config)).fit(wide, graph)
    Trainer(TrainConfig(**config)).fit(narrow, graph)
    for name, value in narrow.state_dict().items():
        assert not torch.equal(value, wide.state_dict()[name][:, 8:]), name
        assert torch.allclose(value, wide.state_dict()[name][:, :8], atol=1e-5), name


@pytest.mark.parametrize(("options", "message"), [
    (dict(loss="softmax", softmax_heads=3), "divisor"),
    (dict(loss="bpr", softmax_heads=2), "softmax"),
])
def test_softmax_heads_that_cannot_apply_are_refused_before_training(ml100k_split, options,
                                                                      message):
    with pytest.raises(ValueError, match=message):
        train(ml100k_split, 1, **options)


@pytest.mark.parametrize("exponent", [0.5, 1.0])
def test_user_weights_are_the_users_degrees_to_the_minus_exponent(ml100k_split, monkeypatch,
                                                                  exponent):
    from lgrec.train import trainer as trainer_module

    train_set, _, _ = ml100k_split
    degrees = torch.from_numpy(train_set.csr().getnnz(axis=1))
    seen = []
    original = trainer_module.full_softmax_loss

    def recording_loss(user_vectors, item_vectors, rows, cols, *args, row_weights=None,
                       **kwargs):
        seen.append((rows, row_weights))
        return original(user_vectors, item_vectors, rows, cols, *args, row_weights=row_weights,
                        **kwargs)

    monkeypatch.setattr(trainer_module, "full_softmax_loss", recording_loss, raising=True)
    weighted, _ = train(ml100k_split, 1, loss="softmax", batch_size=256,
                        user_weight_exponent=exponent)
    assert len(seen) == math.ceil(train_set.n_users / 256)
    for rows, weights in seen:
        counts = torch.bincount(rows).double()
        assert torch.allclose(weights.double(), counts ** -exponent)
    assert sorted(torch.cat([torch.bincount(rows) for rows, _ in seen]).tolist()) == sorted(
        degrees[degrees > 0].tolist())
    monkeypatch.undo()
    plain, _ = train(ml100k_split, 1, loss="softmax", batch_size=256)
    assert not torch.allclose(weighted.user_embedding.weight, plain.user_embedding.weight)


@pytest.mark.parametrize("option", [dict(user_weight_exponent=1.0),
                                    dict(softmax_normalizer_weight=0.8)])
def test_softmax_only_options_are_refused_for_other_losses(ml100k_split, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        train(ml100k_split, 1, loss="bpr", **option)


def test_learning_rate_decays_on_validation_plateaus(ml100k_split):
    # Without L2, MF overfits within a few epochs: every validation after the best is a miss.
    model, trainer = train(ml100k_split, 50, patience=4, reg=0.0, lr_decay_patience=2,
                           lr_decay=0.25)
    assert trainer.epochs_ - trainer.best_epoch_ == 4  # stopped by patience
    # Two decays in the final plateau (after misses 2 and 4), maybe more in earlier ones.
    decays = math.log(trainer.lr_ / 0.01) / math.log(0.25)
    assert decays == pytest.approx(round(decays)) and round(decays) >= 2
    # The schedule records the rate each epoch ran at: the first at the initial rate, every
    # later one at the rate the plateau decays had left.
    assert len(trainer.lr_schedule_) == trainer.epochs_
    assert trainer.lr_schedule_[0] == 0.01
    assert trainer.lr_ == trainer.lr_schedule_[-1] * 0.25  # the stopping miss decays it too
    steps = zip(trainer.lr_schedule_, trainer.lr_schedule_[1:], strict=False)
    assert all(b in (a, a * 0.25) for a, b in steps)


def test_a_replayed_schedule_sets_each_epochs_rate(ml100k_split):
    schedule = (0.02, 0.01, 0.01, 0.005)
    _, trainer = train(ml100k_split, 6, lr_schedule=schedule)
    assert trainer.lr_schedule_ == [0.02, 0.01, 0.01, 0.005, 0.005, 0.005]


def test_a_configured_schedule_sets_each_epochs_rate(ml100k_split):
    config = TrainConfig.from_dict({"lr_schedule": [0.02, 0.01], "epochs": 3, "progress": False,
                                    "threads": 1})
    assert config.lr_schedule == (0.02, 0.01)
    assert TrainConfig.from_dict(config.to_dict()) == config  # saved with a model, loaded back
    train_set, _, _ = ml100k_split
    model = create_model("mf", train_set.n_users, train_set.n_items, dim=16)
    trainer = Trainer(config).fit(model, graph_of(train_set))
    assert trainer.lr_schedule_ == [0.02, 0.01, 0.01]
