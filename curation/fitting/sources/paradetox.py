"""Toxic sentences from Jigsaw, Reddit and Twitter paired with crowd-written non-toxic paraphrases.

ParaDetox, Logacheva et al., 2022.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

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
    records = list(csv_records(source, root, delimiter="\t", quoting=csv.QUOTE_NONE))
    sample = random.Random(0).sample(records, min(PAIRS, len(records)))
    return unique_rows(row for r in sample for row in (Row(r["toxic"] or "", 3, "toxic"),
                                                       Row(r["neutral1"] or "", 0, "neutral_paraphrase")))
