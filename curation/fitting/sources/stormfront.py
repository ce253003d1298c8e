"""Sentences from a white-supremacist forum, each labelled hate / no hate by trained annotators.

de Gibert et al., 2018.
"""

from __future__ import annotations

import random
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SENTENCES = "all_files"
"""The folder of the sentences themselves: <file_id>.txt, one file per row of the metadata."""

SOURCE = Source(
    name="stormfront",
    repo="Vicomtech/hate-speech-dataset",
    files=("annotations_metadata.csv",),
    folders=(SENTENCES,),
    license="CC-BY-SA-3.0-ES",
    kind="user_text",
    mapping="hate -> 4 (hate speech against groups, as davidson's hate class); noHate -> 0 (annotators found no hate; "
            "a seeded sample of 4800 so the source stays under ~6000 rows); 'relation' (hateful only with context) "
            "and 'idk/skip' are dropped",
)

KEEP_SAFE = 4800


def load(source: Source, root: Path) -> list[Row]:
    rows = unique_rows(Row(source.path(root, f"{SENTENCES}/{r['file_id']}.txt").read_text(encoding="utf-8"),
                           4 if r["label"] == "hate" else 0, r["label"])
                       for r in csv_records(source, root) if r["label"] in ("hate", "noHate"))
    hate = [row for row in rows if row.label == "hate"]
    safe = [row for row in rows if row.label == "noHate"]
    if len(safe) > KEEP_SAFE:
        safe = random.Random(0).sample(safe, KEEP_SAFE)
    return hate + safe
