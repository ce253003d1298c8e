"""Social media comments that Surge AI's annotators found toxic or not.

Surge AI toxicity sample, 500 + 500 English comments.
"""

from __future__ import annotations

import csv
from pathlib import Path

from curation.fitting.sources import Row, Source

SOURCE = Source(
    name="surge_toxicity",
    repo="surge-ai/toxicity",
    files=("toxicity_en.csv",),
    license="MIT",
    kind="user_text",
    mapping="is_toxic Toxic -> 3 (insults, profanity and prejudice aimed at people), Not Toxic -> 0",
)


def load(source: Source, root: Path) -> list[Row]:
    rows, seen = [], set()
    with open(source.path(root, source.files[0]), encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            text = record["text"].strip()
            if len(text) < 8 or text in seen:
                continue
            seen.add(text)
            toxic = record["is_toxic"].strip().lower() == "toxic"
            rows.append(Row(text, 3 if toxic else 0, record["is_toxic"].strip()))
    return rows
