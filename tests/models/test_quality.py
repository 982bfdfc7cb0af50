"""Quality floors on the bundled MovieLens-100K, per-user random 80/10/10 split, seed 2020.

For reference, RecBole 1.2.1 on the same protocol: LightGCN NDCG@10 0.305, Recall@20 0.379;
BPR-MF 0.293 / 0.365. Hyperparameters are the presets, chosen on the validation split.
"""

from __future__ import annotations

import pytest

from lgrec import Recommender
from lgrec.recommend.presets import preset


@pytest.fixture(scope="module")
def results(ml100k_split):
    train, valid, test = ml100k_split
    out = {}
    for model in ("popularity", "mf", "lightgcn"):
        rec = Recommender(model, **preset(model), progress=False).fit(train, valid=valid)
        out[model] = rec.evaluate(test, k=[10, 20])
    return out


@pytest.mark.slow
def test_lightgcn_reaches_the_floor(results):
    assert results["lightgcn"]["ndcg@10"] >= 0.30
    assert results["lightgcn"]["recall@20"] >= 0.37


@pytest.mark.slow
def test_mf_beats_popularity_clearly(results):
    for metric in ("ndcg@10", "recall@20"):
        assert results["mf"][metric] >= 1.25 * results["popularity"][metric], metric


@pytest.mark.slow
def test_lightgcn_beats_mf(results):
    assert results["lightgcn"]["ndcg@10"] > results["mf"]["ndcg@10"]


@pytest.mark.slow
def test_lightgcn_trained_with_the_full_softmax_reaches_the_floor(ml100k_split):
    # Every user's items against the whole catalogue, batches of 128 users. L2 weight chosen on
    # the validation split (best validation NDCG@10 for 0.1 / 0.01 / 0.001: 0.2035 / 0.2607 /
    # 0.2505); it fits in a few seconds, against about a minute for the BPR preset.
    train, valid, test = ml100k_split
    rec = Recommender("lightgcn", dim=64, layers=3, loss="softmax", batch_size=128, lr=0.01,
                      reg=0.01, temperature=0.2, patience=5, progress=False)
    metrics = rec.fit(train, valid=valid).evaluate(test, k=[10, 20])
    assert metrics["ndcg@10"] >= 0.30
    assert metrics["recall@20"] >= 0.37
