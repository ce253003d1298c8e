"""Paragraphs of Good and Featured Wikipedia articles.

WikiText-2 validation and test splits, as shipped in pytorch/examples.
"""

from __future__ import annotations

import re
from pathlib import Path

from curation.fitting.sources import Row, Source, text_lines

SOURCE = Source(
    name="wikitext",
    repo="pytorch/examples",
    files=("word_language_model/data/wikitext-2/valid.txt", "word_language_model/data/wikitext-2/test.txt"),
    license="CC-BY-SA-3.0 (Wikipedia text); repository BSD-3-Clause",
    kind="web_text",
    mapping="every paragraph -> 0, including articles on wars, battles, crimes, disasters and diseases "
            "(encyclopaedic text is safe here); a paragraph with <unk> tokens keeps only its longest runs of whole "
            "sentences without one; rows are runs of 40-400 words",
)

# WikiText's tokenisation: "@-@", "@,@", "@.@" join number and word parts; punctuation is split off by spaces.
JOINERS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
SPACE_BEFORE = re.compile(r" ([,.;:!?)\]'](?:\s|$)|'s\b|n't\b)")
SPACE_AFTER = re.compile(r"([(\[]) ")
SENTENCE_END = re.compile(r"(?<= [.!?]) ")


def _detokenize(text: str) -> str:
    for token, joiner in JOINERS:
        text = text.replace(token, joiner)
    return SPACE_AFTER.sub(r"\1", SPACE_BEFORE.sub(r"\1", text))


def load(source: Source, root: Path) -> list[Row]:
    rows, seen, title = [], set(), ""
    for file in source.files:
        for line in text_lines(source, root, file):
            line = line.strip()
            if line.startswith("= ") and not line.startswith("= ="):
                title = line.strip("= ").strip()
                continue
            if not line or line.startswith("="):
                continue
            for run in _clean_runs(line):
                text = _detokenize(run)
                if not 40 <= len(text.split()) <= 400 or text in seen:
                    continue
                seen.add(text)
                rows.append(Row(text, 0, title))
    return rows


def _clean_runs(paragraph: str) -> list[str]:
    """The paragraph split into runs of consecutive sentences that have no <unk> token."""
    runs, run = [], []
    for sentence in SENTENCE_END.split(paragraph):
        if "<unk>" in sentence:
            runs.append(" ".join(run))
            run = []
        else:
            run.append(sentence)
    runs.append(" ".join(run))
    return [r for r in runs if r]
