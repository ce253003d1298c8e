"""Sentences from a white-supremacist forum, each labelled hate / no hate by trained annotators.

de Gibert et al., 2018.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from curation.fitting.sources import Row, Source

SOURCE = Source(
    name="stormfront",
    repo="Vicomtech/hate-speech-dataset",
    # The sentences themselves are all_files/<file_id>.txt, one file per row of the metadata.
    files=("annotations_metadata.csv",),
    license="CC-BY-SA-3.0-ES",
    kind="user_text",
    mapping="hate -> 4 (hate speech against groups, as davidson's hate class); noHate -> 0 (annotators found no hate; "
            "a seeded sample of 4800 so the source stays under ~6000 rows); 'relation' (hateful only with context) "
            "and 'idk/skip' are dropped",
)

KEEP_SAFE = 4800


def load(source: Source, root: Path) -> list[Row]:
    hate, safe, seen = [], [], set()
    with open(source.path(root, source.files[0]), encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            if record["label"] not in ("hate", "noHate"):
                continue
            text = source.path(root, f"all_files/{record['file_id']}.txt").read_text(encoding="utf-8").strip()
            if len(text) < 8 or text in seen:
                continue
            seen.add(text)
            if record["label"] == "hate":
                hate.append(Row(text, 4, "hate"))
            else:
                safe.append(Row(text, 0, "noHate"))
    if len(safe) > KEEP_SAFE:
        safe = random.Random(0).sample(safe, KEEP_SAFE)
    return hate + safe
