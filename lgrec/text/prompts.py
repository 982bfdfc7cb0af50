"""Prompts for user profiles, intent rewriting and one-sentence explanations.

The prompts are written for the smallest useful instruction models (SmolLM2-135M): short, and
built from worked examples (few-shot), because such models copy the shape of an example far
more reliably than they follow a written rule. Replies are post-checked, and explanations fall
back to a template sentence when the model gets them wrong, so callers always get usable text.
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
    # sentence; one followed by a capital, an opening quote, or the end of the text does.
    r"(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\bMrs)(?<!\bJr)(?<!\bSr)"
    r"[.!?][\"')]?(?=\s+[A-Z\"']|$)"
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


# Where an item text's name ends: the first ". " before a capital that is not part of an
# initial or an abbreviation ("Mr. Holland's Opus (1995). Genres: Drama" -> name, rest).
_HEAD_END = re.compile(r"(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bMrs)\.\s+(?=[A-Z])")


def _split_head(text: str) -> tuple[str, str]:
    text = " ".join(text.split())
    match = _HEAD_END.search(text)
    return (text[: match.start()], text[match.end() :]) if match else (text, "")


def display_name(text: str) -> str:
    """Short name of an item for prose: its text up to the first sentence end.

    Item texts built by :func:`lgrec.text.templates.rows_to_text` start with the title
    ("Toy Story (1995). Genres: ..."), which is what a sentence should name.
    """
    name = _split_head(text)[0].rstrip(".")
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
    """Return the first of ``names`` that ``text`` mentions, or ``None``.

    ``names`` may be names or whole item texts (their :func:`display_name` is looked for); the
    matching allows the variants of :func:`name_variants`, on whole words only.
    """
    haystack = f" {_normalise(text)} "
    for name in names:
        variants = {*name_variants(name), *name_variants(display_name(name))}
        if any(f" {v} " in haystack for v in variants):
            return name
    return None


def prose_text(text: str) -> str:
    """``text`` with its leading name written as prose (see :func:`display_name`)."""
    head, rest = _split_head(text)
    return f"{display_name(head)}. {rest}" if rest else display_name(head)


# Few-shot examples. A 135M model copies the shape of an example far more reliably than it
# follows a written rule, so each prompt shows two complete exchanges in the wanted form.
# They are movies because the bundled dataset is; pass ``examples=`` for other catalogues.
EXPLANATION_EXAMPLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "Finding Nemo (2003). Genres: Animation, Children's, Comedy",
        ("Shrek (2001). Genres: Animation, Children's, Comedy", "Cars (2006). Genres: Animation"),
        "Because you liked Shrek (2001), you may enjoy Finding Nemo (2003), another funny "
        "animated film for the whole family.",
    ),
    (
        "Speed (1994). Genres: Action, Thriller",
        ("Die Hard (1988). Genres: Action, Thriller", "Point Break (1991). Genres: Action, Crime"),
        "Because you liked Die Hard (1988), you may enjoy Speed (1994), another tense action "
        "thriller.",
    ),
)
PROFILE_EXAMPLES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "Heat (1995). Genres: Action, Crime, Thriller",
            "The Godfather (1972). Genres: Action, Crime, Drama",
            "Casino (1995). Genres: Drama, Thriller",
            "Goodfellas (1990). Genres: Crime, Drama",
        ),
        "This person likes gritty crime dramas and thrillers about gangsters, mostly from the "
        "1970s to the 1990s.",
    ),
    (
        (
            "Sleepless in Seattle (1993). Genres: Comedy, Romance",
            "Emma (1996). Genres: Comedy, Drama, Romance",
            "Notting Hill (1999). Genres: Comedy, Romance",
        ),
        "This person likes light romantic comedies and love stories from the 1990s.",
    ),
)
INTENT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("a scary movie for halloween night", "Horror, thriller; frightening, suspenseful."),
    ("something romantic to watch on a date", "Romance, comedy; light-hearted love story."),
)


def _with_examples(system: str, shots: Sequence[tuple[str, str]], ask: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}]
    for user, assistant in shots:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    messages.append({"role": "user", "content": ask})
    return messages


def _profile_ask(item_texts: Sequence[str]) -> str:
    return "Items this person liked:\n" + _bullets([prose_text(t) for t in item_texts], 160)


def profile_messages(
    item_texts: Sequence[str],
    max_items: int = 15,
    examples: Sequence[tuple[Sequence[str], str]] = PROFILE_EXAMPLES,
) -> list[dict[str, str]]:
    """Messages asking for a one-sentence summary of a user's tastes from liked items."""
    items = [t for t in item_texts if t and t.strip()][:max_items]
    if not items:
        raise ValueError("a profile needs at least one item text")
    return _with_examples(
        "You describe a person's tastes in one sentence.",
        [(_profile_ask(shot_items), answer) for shot_items, answer in examples],
        _profile_ask(items),
    )


def intent_messages(
    request: str, examples: Sequence[tuple[str, str]] = INTENT_EXAMPLES
) -> list[dict[str, str]]:
    """Messages asking to rewrite a natural-language request as a short item description.

    The description is meant to be encoded like catalogue texts ("something to watch with my
    kids tonight" -> "Animation, comedy; family friendly"); small models get it wrong often
    enough that callers should use it alongside the raw request, not instead of it.
    """
    if not request or not request.strip():
        raise ValueError("the request is empty")
    return _with_examples(
        "You turn requests into short catalogue descriptions: genres and attributes.",
        [(f"Request: {q}", a) for q, a in examples],
        f"Request: {_clip(request, 500)}",
    )


def _explanation_ask(item: str, evidence: Sequence[str]) -> str:
    # The user's items come first and the recommendation last, the order in which the answer
    # names them: with the other order the model tends to swap them.
    liked = "; ".join(_clip(prose_text(e), 160) for e in evidence)
    return f"The user liked: {liked}\nRecommended: {_clip(prose_text(item), 160)}"


def explanation_messages(
    item: str,
    evidence: Sequence[str],
    max_evidence: int = 2,
    examples: Sequence[tuple[str, Sequence[str], str]] = EXPLANATION_EXAMPLES,
) -> list[dict[str, str]]:
    """Messages asking for one sentence on why ``item`` is recommended, naming the evidence.

    ``item`` and ``evidence`` are item texts ("Heat (1995). Genres: Action, Crime"), the
    evidence being the user's own items that support the recommendation, strongest first.
    The examples show the answer's shape ("Because you liked <evidence>, you may enjoy
    <item>, ..."), which SmolLM2-135M copies in most cases; the rest is caught by
    :func:`explain_recommendation`.
    """
    evidence = [e for e in evidence if e and e.strip()][:max_evidence]
    if not evidence:
        raise ValueError("an explanation needs at least one evidence item")
    return _with_examples(
        "You explain recommendations in one short sentence.",
        [(_explanation_ask(i, e), answer) for i, e, answer in examples],
        _explanation_ask(item, evidence),
    )


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
    max_evidence: int = 1,
    max_tokens: int = 60,
) -> Explanation:
    """One sentence on why ``item`` suits a user, naming at least one of ``evidence``.

    ``item`` and ``evidence`` are item texts, the evidence being the user's own items,
    strongest first; the model is shown the first ``max_evidence`` of them (one by default:
    SmolLM2-135M mixes up the items more often when shown more, 8 of 12 test cases right with
    one against 6 of 12 with two or three). The model's sentence is kept only when it names
    one of those evidence items and the recommended item (a small model sometimes recommends
    an evidence item back); otherwise, with ``llm=None``, or when the model fails, the
    template sentence of :func:`fallback_explanation` (naming up to two evidence items) is
    returned and the reason is logged.
    """
    evidence = [e for e in evidence if e and e.strip()]
    if not evidence:
        raise ValueError("an explanation needs at least one evidence item")
    shown = evidence[: max(1, max_evidence)]
    names = [display_name(e) for e in shown]
    item_name = display_name(item)
    if llm is not None:
        messages = explanation_messages(item, shown, max_evidence=len(shown))
        try:
            reply = llm.complete(messages, max_tokens=max_tokens, temperature=0.0)
        except Exception as exc:  # the product must explain even when the model is down
            logger.warning("explanation model failed (%s); using the template sentence", exc)
        else:
            sentence = first_sentence(reply, keep=[*names, item_name])
            named = mentioned(sentence, names)
            if named is not None and mentioned(sentence, [item_name]) is not None:
                return Explanation(sentence, named, fallback=False)
            logger.info(
                "model sentence %r does not name both one of the user's items and %r; "
                "using the template sentence",
                sentence,
                item_name,
            )
    return Explanation(fallback_explanation(item, evidence[:2]), names[0], fallback=True)


def generate_profile(
    llm: ChatBackend, item_texts: Sequence[str], *, max_items: int = 15, max_tokens: int = 80
) -> str:
    """A one-sentence summary of a user's tastes from the texts of items they liked."""
    reply = llm.complete(profile_messages(item_texts, max_items), max_tokens=max_tokens)
    return first_sentence(reply)


def rewrite_intent(llm: ChatBackend, request: str, *, max_tokens: int = 40) -> str:
    """A short catalogue-style description of what ``request`` asks for.

    Returns the request itself when the model gives nothing usable.
    """
    reply = first_sentence(llm.complete(intent_messages(request), max_tokens=max_tokens))
    return reply if len(reply) > 2 else " ".join(request.split())
