"""Social media comments that Surge AI's annotators found toxic or not.

Surge AI toxicity sample, 500 + 500 English comments.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="surge_toxicity",
    repo="surge-ai/toxicity",
    files=("toxicity_en.csv",),
    license="MIT",
    kind="user_text",
    mapping="is_toxic Toxic -> 3 (insults, profanity and prejudice aimed at people), Not Toxic -> 0",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(r["text"], 3 if r["is_toxic"].strip().lower() == "toxic" else 0, r["is_toxic"].strip())
                       for r in csv_records(source, root))
