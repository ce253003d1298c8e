"""Quality gates every generated text passes before it is written as a good row.

A text that fails is retried with a new seed; one that fails every try goes to rejects/ with the reason
of its last try, as `gate:<reason>`.
"""

from __future__ import annotations

import re

from curation.config import GateConfig
from curation.generation.refusal import is_refusal
from curation.schema import GENERATION_KINDS as KINDS
from curation.schema import SCORE_GATED

COPY_NGRAM = 8
"""Word n-gram length of the copy check: long enough that shared phrases ("in the United States") don't count."""
_WORD = re.compile(r"\w+")
_DIALOGUE_LINE = re.compile(r"^(User|Assistant): \S", re.MULTILINE)
_TURNS = re.compile(r"^(User|Assistant): (.*)$", re.MULTILINE)
_URL = re.compile(r"https?://|www\.|\]\(")


def ngrams(text: str, n: int = COPY_NGRAM) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copied_fraction(source: str, text: str, n: int = COPY_NGRAM) -> float:
    """Share of `text`'s word n-grams that also occur in `source` (0 when `text` has none)."""
    grams = ngrams(text, n)
    if not grams:
        return 0.0
    return len(grams & ngrams(source, n)) / len(grams)


def turns(dialogue: str, speaker: str) -> list[str]:
    """The texts of one speaker's turns in a "User: ..."/"Assistant: ..." dialogue, one turn per line."""
    return [text for who, text in _TURNS.findall(dialogue) if who == speaker]


def dialogue_problem(text: str) -> str | None:
    """Why a "User: ..."/"Assistant: ..." dialogue (one turn per line) is not a refusal dialogue, or None:
    both speakers, the assistant last, and every assistant turn declines (curation.generation.refusal)."""
    speakers = [match[1] for match in _DIALOGUE_LINE.finditer(text)]
    if "User" not in speakers or "Assistant" not in speakers:
        return "missing_speaker"
    if speakers[-1] != "Assistant":
        return "ends_with_user"
    if not all(is_refusal(turn) for turn in turns(text, "Assistant")):
        return "no_refusal"
    return None


def title_problem(article: str) -> str | None:
    """`bad_title` when a Moral Education article's title line is a link, a date or has no words."""
    title = article.strip().splitlines()[0].lstrip("# ").strip() if article.strip() else ""
    if _URL.search(title) or len(_WORD.findall(re.sub(r"\d+", " ", title))) < 2:
        return "bad_title"
    return None


def topic_text(kind: str, text: str) -> str:
    """What must stay on its source's topic: a RefuseWeb dialogue's user turns, any other text whole."""
    return " ".join(turns(text, "User")) if kind == "refuseweb" else text


def topic_problem(similarity: float | None, cfg: GateConfig) -> str | None:
    """`off_topic` when a text's encoder similarity to its source is below `min_similarity`."""
    if similarity is not None and similarity < cfg.min_similarity:
        return "off_topic"
    return None


def check(kind: str, source: str, text: str | None, cfg: GateConfig) -> str | None:
    """None when `text` passes every gate of its kind, else the reason it fails.

    `source` is what the text was made from: the document (as cut for the prompt) for SafeWeb and
    RefuseWeb, the dialogue for Moral Education. Length ratios apply to rewrites of a document only.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown generated kind {kind!r}; one of {', '.join(KINDS)}")
    if text is None or not text.strip():
        return "empty"
    size = len(text.strip())
    if size < cfg.min_chars:
        return "too_short"
    if kind != "moral_education":
        if size < cfg.min_ratio * len(source):
            return "too_short"
        if kind == "safeweb" and size > cfg.max_ratio * max(len(source), cfg.length_floor_chars):
            return "too_long"
    if kind == "refuseweb" and (problem := dialogue_problem(text)):
        return problem
    if kind == "moral_education" and "\n## " not in text:
        return "no_sections"
    if kind == "moral_education" and (problem := title_problem(text)):
        return problem
    if copied_fraction(source, text) > cfg.max_copy:
        return "copy_of_source"
    return None


def score_problem(kind: str, score: int | None, limit: int) -> str | None:
    """`still_unsafe` when a text of a score-gated kind scores above `limit`."""
    if kind in SCORE_GATED and score is not None and score > limit:
        return "still_unsafe"
    return None
