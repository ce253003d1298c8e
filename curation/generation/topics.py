"""How a SafeWeb rewrite opens: its framing's first line, naming its document's topic words.

Left to open freely, SmolLM2-135M wrote about something else for most one-line comments (an inn review for a
threat, a writing lesson for a slur-laden tweet): 36 of 54 SafeWeb-routed public unsafe rows failed the topic
gate even with 8 tries each. A first line that names the document's own content words ("Teacher: Good morning,
class. Today we are going to talk about something I read about Birmingham, immigrants and mosques.") keeps the
rest on topic: 15 of 54 failed it (benchmarks/results/generation_public_80.json with the 21-source head). The words
are the document's most frequent words of four or more letters, less stop words, chat fillers and anything on
better-profanity's word list (slurs, profanity and sexual terms, also in leetspeak), so the opening itself is
safe to read.
"""

from __future__ import annotations

import re
from collections import Counter

from better_profanity import profanity
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

TERMS = 3
"""How many topic words an opening names."""
_WORD = re.compile(r"(?<![\w@$!*#'])(?:[A-Za-z][a-z]{3,}|[A-Z]{4,})(?![\w@$!*#]|'(?!s\b))")
"""A plain word of four or more letters, lower-case after its first letter or all capitals (a possessive's
"'s" left behind): leetspeak, contractions and words glued to symbols are left out."""
FILLERS = frozenset(
    "dont didnt doesnt isnt wont cant wanna gonna gotta yall cuz cause tho idk lol like just really make know "
    "going getting great good want need tell think thing things using right said says does stop write give create "
    "provide explain describe help someone something people".split())
"""Words that say nothing about what a document is about (chat fillers and request verbs)."""
OPENINGS = {
    "teacher": "Teacher: Good morning, class. Today we are going to talk about something I read about {terms}.",
    "textbook": "# {Title}\n\nThis chapter is about {terms}.",
    "friends": "Maya: I read something online about {terms} today.\nSam:",
    "parent_child": "Child: I read something about {terms}. What does it mean?\nParent:",
    "kids_video": "[Scene: a sunny classroom]\nNarrator: Hi friends! Today we are talking about {terms}.",
    "podcast": "Host 1: Welcome back to the show! Today we are talking about {terms}.",
    "ted_talk": "Today I want to talk about {terms}.",
}
"""Each SafeWeb framing's first line(s), in the form its prompt asks for."""


def topic_terms(text: str, limit: int = TERMS) -> list[str]:
    """Up to `limit` content words of `text`, the most frequent first (ties: the first seen first), each as it was
    first written (all-capital words lower-cased); none that better-profanity flags."""
    words = [word.lower() if word.isupper() else word for word in _WORD.findall(text)]
    counts = Counter(word.lower() for word in words)
    first: dict[str, str] = {}
    for word in words:
        key = word.lower()
        if key not in ENGLISH_STOP_WORDS and key not in FILLERS and key not in first:
            first[key] = word
    ranked = sorted(first, key=lambda key: -counts[key])  # stable: ties keep their first-seen order
    return [first[key] for key in ranked if not profanity.contains_profanity(key)][:limit]


def listed(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def opening(template: str, document: str) -> str:
    """The first line(s) of a SafeWeb rewrite of `document` in `template`'s framing; empty when the document has
    no usable topic word (the model then opens freely)."""
    terms = topic_terms(document)
    if not terms:
        return ""
    words = listed(terms)
    return OPENINGS[template].format(terms=words, Title=words[0].upper() + words[1:])
