"""Toxic sentences from Jigsaw, Reddit and Twitter paired with crowd-written non-toxic paraphrases.

ParaDetox, Logacheva et al., 2022.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from curation.fitting.sources import Row, Source

SOURCE = Source(
    name="paradetox",
    repo="s-nlp/paradetox",
    files=("paradetox/paradetox.tsv",),
    license="CC0-1.0",
    kind="user_text",
    mapping="toxic sentence -> 3 (rude insults and strong profanity without slurs or threats); its first "
            "crowd-written, crowd-verified detoxified paraphrase -> 0; a seeded sample of 3000 pairs",
)

PAIRS = 3000


def load(source: Source, root: Path) -> list[Row]:
    with open(source.path(root, source.files[0]), encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows, seen = [], set()
    for record in random.Random(0).sample(records, min(PAIRS, len(records))):
        pair = (((record["toxic"] or "").strip(), 3, "toxic"),
                ((record["neutral1"] or "").strip(), 0, "neutral_paraphrase"))
        for text, score, label in pair:
            if len(text) < 8 or text in seen:
                continue
            seen.add(text)
            rows.append(Row(text, score, label))
    return rows
