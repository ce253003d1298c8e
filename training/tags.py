"""Harmfulness-tag injection (Safety Pretraining, Algorithm 2): tag words of unsafe text at random.

Only text whose safety score marks it unsafe is tagged. The text is split into words; the first word is
kept as it is, and before each later word the tag is inserted with probability p (default 0.05). The tag
goes right after the previous word, before the whitespace, so every word keeps the tokens it has in
untagged text:

    "Hand over the keys now"  ->  "Hand over<potentially_unsafe_content> the keys now"

The draw is seeded by (seed, document id): a document gets the same tags in any order, process or rank.
"""

from __future__ import annotations

import random
import re

from curation.markers import HARM_TAG

_WORD = re.compile(r"\S+")


def is_unsafe(score: int | None, threshold: int) -> bool:
    """Whether text with this safety score is tagged: scored, and at or above `threshold`."""
    return score is not None and score >= threshold


def inject_tags(text: str, p: float, rng: random.Random, tag: str = HARM_TAG) -> str:
    """`text` with `tag` before each word after the first with probability `p` (Algorithm 2)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"tag probability must be within [0, 1], got {p}")
    cuts, previous_end = [], 0  # where a tag goes: right after the word before a tagged word
    for i, word in enumerate(_WORD.finditer(text)):
        if i and rng.random() < p:
            cuts.append(previous_end)
        previous_end = word.end()
    starts = [0, *cuts]
    return tag.join(text[start:stop] for start, stop in zip(starts, [*cuts, len(text)], strict=True))

def tag_document(text: str, score: int | None, doc_id: str, *, threshold: int, p: float, seed: int) -> str:
    """A training document: tagged if its score marks it unsafe, else unchanged (safe text is never tagged)."""
    if not is_unsafe(score, threshold) or p == 0.0:
        return text
    return inject_tags(text, p, random.Random(f"tags\0{seed}\0{doc_id}"))
