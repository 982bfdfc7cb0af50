"""Explanations: graph evidence from the user's own items, text similarity, an LLM sentence."""

from __future__ import annotations

import importlib.util

import pytest

from lgrec import Recommender


@pytest.fixture(scope="module")
def rec(ml100k_split):
    train, valid, _ = ml100k_split
    return Recommender("lightgcn", epochs=5, lr=0.01, progress=False, threads=1).fit(
        train, valid=valid
    )


def test_evidence_comes_from_the_users_history(rec, ml100k_split):
    train, valid, _ = ml100k_split
    item = rec.recommend("196", k=1)[0].item
    explanation = rec.explain("196", item, top=3)
    history = set(train.to_frame().query("user == '196'")["item"]) | set(
        valid.to_frame().query("user == '196'")["item"]
    )
    assert len(explanation.evidence) == 3
    assert {e.item for e in explanation.evidence} <= history
    contributions = [e.contribution for e in explanation.evidence]
    assert contributions == sorted(contributions, reverse=True)
    assert all(e.co_users >= 0 and -1 <= e.text_similarity <= 1 for e in explanation.evidence)
    assert explanation.title == rec.item_titles([item])[0]
    assert explanation.sentence is None
    # Path counts are real co-occurrences in the interactions the model knows.
    seen = rec.seen_
    j = rec.item_ids_.to_internal([explanation.evidence[0].item])[0]
    i = rec.item_ids_.to_internal([item])[0]
    assert explanation.evidence[0].co_users == int(seen[:, j].multiply(seen[:, i]).sum())


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python not installed (pip install 'lgrec[llm]')")
def test_sentence_names_one_of_the_users_items(rec):
    from lgrec.text import load_llm, mentioned

    llm = load_llm(cache=False)
    for user in ("196", "1", "13"):
        item = rec.recommend(user, k=1)[0].item
        explanation = rec.explain(user, item, llm=llm)
        assert explanation.sentence
        # Catalogue titles like "Madness of King George, The" count in their prose form too.
        named = mentioned(explanation.sentence, [e.title for e in explanation.evidence])
        assert named is not None, explanation
