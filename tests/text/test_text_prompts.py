"""Prompt builders and the post-checks around model replies (no model needed)."""

from __future__ import annotations

import logging

import pytest

from lgrec.text import (
    display_name,
    explain_recommendation,
    explanation_messages,
    fallback_explanation,
    mentioned,
    profile_messages,
)
from lgrec.text.llm import to_messages
from lgrec.text.prompts import first_sentence, intent_messages, name_variants, prose_text


class ScriptedLLM:
    """Answers with a fixed reply, to drive the post-check paths a real model takes rarely."""

    model_id = "scripted"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.seen: list = []

    def complete(self, messages, max_tokens=128, temperature=0.0, stop=None) -> str:
        self.seen.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_display_name_and_prose_text() -> None:
    assert display_name("Toy Story (1995). Genres: Animation") == "Toy Story (1995)"
    assert display_name("Godfather, The (1972). Genres: Crime") == "The Godfather (1972)"
    assert display_name("Mr. Holland's Opus (1995). Genres: Drama") == "Mr. Holland's Opus (1995)"
    assert display_name("When Harry Met Sally... (1989). Genres: x") == (
        "When Harry Met Sally... (1989)"
    )
    assert prose_text("Lion King, The (1994). Genres: Musical") == (
        "The Lion King (1994). Genres: Musical"
    )


def test_mentions_tolerate_years_and_articles() -> None:
    assert "godfather" in name_variants("Godfather, The (1972)")
    assert mentioned("Since you loved the Godfather, try Heat.", ["Godfather, The (1972)"])
    assert mentioned("You liked Aliens.", ["Alien (1979)"]) is None  # whole words only
    assert mentioned("It was great.", ["It (1990)"]) is None  # too short to trust


def test_first_sentence() -> None:
    assert first_sentence('"Because you liked Heat, try Ronin." Enjoy!') == (
        "Because you liked Heat, try Ronin."
    )
    assert first_sentence("Mr. Holland's Opus is next. More", keep=["Mr. Holland's Opus"]) == (
        "Mr. Holland's Opus is next."
    )
    assert first_sentence("no full stop\nat all") == "no full stop at all."


def test_explanation_prompt_shows_examples_then_the_case() -> None:
    messages = explanation_messages("Heat (1995). Genres: Crime", ["Casino (1995)", "Ronin"])
    to_messages(messages)  # well-formed
    assert messages[0]["role"] == "system"
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * 2 + ["user"]
    assert messages[-1]["content"] == (
        "The user liked: Casino (1995); Ronin\nRecommended: Heat (1995). Genres: Crime"
    )
    with pytest.raises(ValueError, match="evidence"):
        explanation_messages("Heat", ["", "  "])


def test_model_sentence_is_kept_when_it_names_both(caplog) -> None:
    llm = ScriptedLLM("Because you liked Casino, you may enjoy Heat, another crime film. Bye.")
    explanation = explain_recommendation(llm, "Heat (1995)", ["Casino (1995)", "Ronin (1998)"])
    assert explanation.text == "Because you liked Casino, you may enjoy Heat, another crime film."
    assert explanation.named == "Casino (1995)" and not explanation.fallback


@pytest.mark.parametrize(
    "reply",
    [
        "You will love Heat, a great crime film.",  # names no evidence
        "Because you liked Casino, you may enjoy Casino.",  # names evidence, not the item
        RuntimeError("server down"),
    ],
)
def test_template_sentence_when_the_model_misses(reply, caplog) -> None:
    llm = ScriptedLLM(reply)
    with caplog.at_level(logging.INFO, logger="lgrec.text.prompts"):
        explanation = explain_recommendation(
            llm, "Heat (1995)", ["Casino (1995). Genres: Crime", "Ronin (1998)"]
        )
    assert explanation.fallback and explanation.named == "Casino (1995)"
    assert explanation.text == (
        "Because you liked Casino (1995) and Ronin (1998), you may also like Heat (1995)."
    )
    assert "template sentence" in caplog.text


def test_without_a_model_the_template_is_used() -> None:
    explanation = explain_recommendation(None, "Babe (1995)", ["Toy Story (1995)"])
    assert str(explanation) == fallback_explanation("Babe (1995)", ["Toy Story (1995)"])
    assert explanation.fallback


def test_profile_and_intent_prompts() -> None:
    messages = profile_messages(["Toy Story (1995)", "", "Heat (1995)"], max_items=5)
    assert messages[-1]["content"] == "Items this person liked:\n- Toy Story (1995)\n- Heat (1995)"
    with pytest.raises(ValueError):
        profile_messages([])
    assert intent_messages("a gangster film")[-1]["content"] == "Request: a gangster film"
    with pytest.raises(ValueError):
        intent_messages("  ")
