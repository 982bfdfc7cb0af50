"""Prompts for user profiles, intent rewriting and one-sentence explanations.

The prompts are written for the smallest useful instruction models (SmolLM2-135M): short,
concrete, with the wanted opening words given to the model, because such models follow a
prefix far more reliably than an abstract rule. Every generator post-checks the reply and
falls back to a template when the model gets it wrong, so callers always get usable text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from lgrec.text.llm import ChatBackend

logger = logging.getLogger(__name__)

_EXPLAIN_OPENING = "Because you liked"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bullets(texts: Sequence[str], limit: int) -> str:
    return "\n".join(f"- {_clip(t, limit)}" for t in texts if t and t.strip())


_SENTENCE_END = re.compile(
    # A full stop after an initial ("J. Smith") or a common abbreviation does not end a
    # sentence; one followed by a capital, an opening quote or bracket, or the end does.
    r"(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\bMrs)(?<!\bJr)(?<!\bSr)"
    r"[.!?][\"')]?(?=\s+[A-Z\"'(]|$)"
)


def first_sentence(text: str, keep: Sequence[str] = ()) -> str:
    """Return the first sentence of ``text`` on one line, without wrapping quotes.

    Small models often add a second sentence, a list or a sign-off; the product shows one.
    Names in ``keep`` (titles such as "Mr. Holland's Opus") are never cut.
    """
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    text = " ".join(text.split()).strip(" \"'")
    # Hide the kept names behind placeholders without full stops while looking for the end.
    masked = text
    spans = {}
    for i, name in enumerate(sorted({k for k in keep if k}, key=len, reverse=True)):
        token = f"\x00{i}\x00"
        if name in masked:
            masked = masked.replace(name, token)
            spans[token] = name
    match = _SENTENCE_END.search(masked)
    sentence = masked[: match.end()] if match else masked
    for token, name in spans.items():
        sentence = sentence.replace(token, name)
    sentence = sentence.strip(" \"'")
    if sentence and sentence[-1] not in ".!?":
        sentence += "."
    return sentence


_ARTICLES = r"(the|a|an|le|la|les|il|el|der|die|das)"
_ARTICLE_SUFFIX = re.compile(rf"^(.*),\s*{_ARTICLES}$", re.IGNORECASE)
_ARTICLE_SUFFIX_NOTE = re.compile(rf"^(.*?),\s*{_ARTICLES}(\s*[(\[].*)?$", re.IGNORECASE)


def display_name(text: str) -> str:
    """Short name of an item for prose: the part before the first ``". "`` of its text.

    Item texts built by :func:`lgrec.text.templates.rows_to_text` start with the title
    ("Toy Story (1995). Genres: ..."), which is what a sentence should name.
    """
    name = " ".join(text.split(". ", 1)[0].split()).rstrip(".")
    # Catalogues often file titles as "Godfather, The (1972)"; prose says "The Godfather".
    match = _ARTICLE_SUFFIX_NOTE.match(name)
    if match:
        name = f"{match.group(2)} {match.group(1)}{match.group(3) or ''}"
    return name


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def name_variants(name: str) -> list[str]:
    """Normalised ways a sentence may write ``name``, longest first.

    ``"Godfather, The (1972)"`` is also matched as ``"the godfather"`` and ``"godfather"``: a
    year or other bracketed note may be dropped, and a catalogue-style trailing article may be
    moved to the front or left out.
    """
    base = re.sub(r"\s*[(\[][^)\]]*[)\]]", "", name).strip()
    variants = {name, base}
    match = _ARTICLE_SUFFIX.match(base)
    if match:
        variants.add(f"{match.group(2)} {match.group(1)}")
        variants.add(match.group(1))
    leading = re.match(rf"^{_ARTICLES}\s+(.+)$", base, re.IGNORECASE)
    if leading:
        variants.add(leading.group(2))
    normalised = {_normalise(v) for v in variants}
    # Very short names ("It", "M") would match almost any sentence.
    return sorted((v for v in normalised if len(v) >= 3), key=len, reverse=True)


def mentioned(text: str, names: Sequence[str]) -> str | None:
    """Return the first of ``names`` that ``text`` mentions (see :func:`name_variants`)."""
    haystack = f" {_normalise(text)} "
    for name in names:
        if any(f" {v} " in haystack for v in name_variants(name)):
            return name
    return None


def profile_messages(item_texts: Sequence[str], max_items: int = 15) -> list[dict[str, str]]:
    """Messages asking for a short summary of a user's tastes from the items they liked."""
    items = [t for t in item_texts if t and t.strip()][:max_items]
    if not items:
        raise ValueError("a profile needs at least one item text")
    return [
        {
            "role": "system",
            "content": "You describe a person's tastes in one or two short sentences.",
        },
        {
            "role": "user",
            "content": (
                f"A person liked these items:\n{_bullets(items, 160)}\n\n"
                "In one or two sentences, describe what this person likes (kinds, themes, "
                'moods, eras). Do not list the items. Start with "This person likes".'
            ),
        },
    ]


def intent_messages(request: str) -> list[dict[str, str]]:
    """Messages asking to rewrite a natural-language request as a short item description.

    The description is then encoded like catalogue texts, which match it better than the raw
    request ("something to watch with my kids tonight" -> "family animated comedy").
    """
    if not request or not request.strip():
        raise ValueError("the request is empty")
    return [
        {
            "role": "system",
            "content": "You turn requests into short catalogue descriptions.",
        },
        {
            "role": "user",
            "content": (
                f"Request: {_clip(request, 500)}\n\n"
                "Write a short description (under 15 words) of the kind of item that fits this "
                "request, listing genres or attributes. Reply with the description only."
            ),
        },
    ]


def explanation_messages(
    item: str, evidence: Sequence[str], max_evidence: int = 3
) -> list[dict[str, str]]:
    """Messages asking for one sentence on why ``item`` is recommended, naming the evidence.

    ``item`` and ``evidence`` are short names (titles); the evidence items are the user's own
    items that support the recommendation, strongest first. The model is told exactly how to
    start ("Because you liked <first evidence item>"), which a 135M model follows reliably.
    """
    evidence = [display_name(e) for e in evidence if e and e.strip()][:max_evidence]
    if not evidence:
        raise ValueError("an explanation needs at least one evidence item")
    item = display_name(item)
    liked = ", ".join(f'"{e}"' for e in evidence)
    return [
        {
            "role": "system",
            "content": "You explain recommendations in one short, friendly sentence.",
        },
        {
            "role": "user",
            "content": (
                f"The user liked: {liked}.\n"
                f'We recommend: "{item}".\n\n'
                "Write one sentence explaining the recommendation. The sentence must name "
                f'"{evidence[0]}" and "{item}". Start with: {_EXPLAIN_OPENING} {evidence[0]},'
            ),
        },
    ]


def fallback_explanation(item: str, evidence: Sequence[str]) -> str:
    """The template sentence used when no model is available or its sentence names no evidence."""
    names = [display_name(e) for e in evidence if e and e.strip()]
    if not names:
        raise ValueError("an explanation needs at least one evidence item")
    liked = names[0] if len(names) == 1 else f"{names[0]} and {names[1]}"
    return f"{_EXPLAIN_OPENING} {liked}, you may also like {display_name(item)}."


@dataclass(frozen=True)
class Explanation:
    """A one-sentence explanation and how it was made."""

    text: str
    """The sentence."""
    named: str | None
    """The evidence item the sentence names."""
    fallback: bool
    """True when the template was used instead of the model's sentence."""

    def __str__(self) -> str:
        return self.text


def explain_recommendation(
    llm: ChatBackend | None,
    item: str,
    evidence: Sequence[str],
    *,
    max_evidence: int = 3,
    max_tokens: int = 60,
) -> Explanation:
    """One sentence on why ``item`` suits a user, naming at least one of ``evidence``.

    With ``llm=None``, or when the model's sentence names none of the evidence items (or the
    model fails), the template sentence from :func:`fallback_explanation` is returned and the
    reason is logged.
    """
    names = [display_name(e) for e in evidence if e and e.strip()][:max_evidence]
    if not names:
        raise ValueError("an explanation needs at least one evidence item")
    if llm is not None:
        messages = explanation_messages(item, names, max_evidence=max_evidence)
        try:
            reply = llm.complete(messages, max_tokens=max_tokens, temperature=0.0)
        except Exception as exc:  # the product must explain even when the model is down
            logger.warning("explanation model failed (%s); using the template sentence", exc)
        else:
            sentence = first_sentence(reply, keep=[*names, display_name(item)])
            named = mentioned(sentence, names)
            if named is not None:
                return Explanation(sentence, named, fallback=False)
            logger.info(
                "model sentence names none of the user's items (%r); using the template",
                sentence,
            )
    return Explanation(fallback_explanation(item, names), names[0], fallback=True)


def generate_profile(
    llm: ChatBackend, item_texts: Sequence[str], *, max_items: int = 15, max_tokens: int = 80
) -> str:
    """A short summary of a user's tastes from the texts of items they liked."""
    reply = llm.complete(profile_messages(item_texts, max_items), max_tokens=max_tokens)
    return " ".join(reply.split())


def rewrite_intent(llm: ChatBackend, request: str, *, max_tokens: int = 40) -> str:
    """A short catalogue-style description of what ``request`` asks for.

    Returns the request itself when the model gives nothing usable.
    """
    reply = first_sentence(llm.complete(intent_messages(request), max_tokens=max_tokens))
    return reply if len(reply) > 2 else " ".join(request.split())
