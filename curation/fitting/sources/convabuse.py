"""User messages to two conversational agents, rated for abuse severity by several annotators each.

ConvAbuse, Cercas Curry et al., 2021.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from curation.fitting.sources import Row, Source

SOURCE = Source(
    name="convabuse",
    repo="amandacurry/convabuse",
    files=("2_splits/ConvAbuseEMNLPtrain.csv", "2_splits/ConvAbuseEMNLPvalid.csv", "2_splits/ConvAbuseEMNLPtest.csv"),
    license="CC-BY-4.0",
    kind="user_text",
    mapping="median of the annotators' is_abuse levels on the user message: 1 (not abusive) -> 0, 0 (ambiguous) -> 1, "
            "-1 (mildly abusive) -> 2, -2 (strongly abusive) -> 3, -3 (very strongly abusive) -> 4",
)

LEVELS = {1: 0, 0: 1, -1: 2, -2: 3, -3: 4}
NAMES = {1: "not_abusive", 0: "ambiguous", -1: "mildly_abusive", -2: "strongly_abusive", -3: "very_strongly_abusive"}


def load(source: Source, root: Path) -> list[Row]:
    rows, seen = [], set()
    for file in source.files:
        with open(source.path(root, file), encoding="utf-8", newline="") as handle:
            for record in csv.DictReader(handle):
                text = record["user"].strip()
                votes = [level for annotator in range(1, 9) for level in LEVELS
                         if record.get(f"Annotator{annotator}_is_abuse.{level}") == "1"]
                if len(text) < 8 or text in seen or not votes:
                    continue
                seen.add(text)
                level = int(statistics.median_low(votes))
                rows.append(Row(text, LEVELS[level], NAMES[level]))
    return rows
