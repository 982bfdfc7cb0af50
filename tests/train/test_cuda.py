"""The CUDA path: the same training and evaluation on a GPU when torch sees one.

Skipped on machines without CUDA (CI has none); run on a lent GPU with
``python -m pytest -q tests/train/test_cuda.py``.
"""

from __future__ import annotations

import pytest
import torch

from lgrec import Recommender
from lgrec.recommend.presets import preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def popularity(ml100k_split):
    train, valid, test = ml100k_split
    return Recommender("popularity").fit(train, valid=valid).evaluate(test, k=[10, 20])


def test_lightgcn_on_cuda_reaches_the_cpu_quality_floor(ml100k_split):
    train, valid, test = ml100k_split
    rec = Recommender("lightgcn", **preset("lightgcn"), device="cuda", progress=False)
    rec.fit(train, valid=valid)
    assert rec._evaluation_device().type == "cuda"
    metrics = rec.evaluate(test, k=[10, 20])
    # The floor of tests/models/test_quality.py, which the CPU fit meets.
    assert metrics["ndcg@10"] >= 0.30
    assert metrics["recall@20"] >= 0.37
    # What serving and saving read stays on the CPU.
    assert rec.user_vectors_.device.type == "cpu"
    assert next(rec.model_.parameters()).device.type == "cpu"


@pytest.mark.parametrize("model", ["mf", "ngcf", "gat"])
def test_other_trainable_models_train_on_cuda_and_beat_popularity(ml100k_split, popularity,
                                                                  model):
    train, valid, test = ml100k_split
    rec = Recommender(model, **preset(model), device="cuda", max_seconds=15, progress=False)
    metrics = rec.fit(train, valid=valid).evaluate(test, k=[10, 20])
    for name in ("ndcg@10", "recall@20"):
        assert metrics[name] > popularity[name], name


def test_cuda_and_cpu_evaluation_agree_for_the_same_model(ml100k_split):
    train, valid, test = ml100k_split
    rec = Recommender("graph-filter", **preset("graph-filter")).fit(train, valid=valid)
    on_cpu = rec.evaluate(test, k=[10, 20])
    rec.train_config_.device = "cuda"
    assert rec._evaluation_device().type == "cuda"
    on_gpu = rec.evaluate(test, k=[10, 20])
    for name, value in on_cpu.items():
        # Same scores up to float summation order: ties may swap, nothing more.
        assert on_gpu[name] == pytest.approx(value, abs=2e-3), name


def test_refit_on_cuda_trains_again_on_train_and_valid(ml100k_split):
    train, valid, test = ml100k_split
    rec = Recommender("lightgcn", **preset("lightgcn"), device="cuda", refit=True,
                      progress=False)
    metrics = rec.fit(train, valid=valid).evaluate(test, k=[10, 20])
    assert 0 < rec.refit_seconds_ < rec.fit_seconds_
    assert rec.item_degree_.sum() == len(train) + len(valid)
    assert metrics["ndcg@10"] >= 0.30
    assert rec.user_vectors_.device.type == "cpu"
