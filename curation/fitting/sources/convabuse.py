"""User messages to two conversational agents, rated for abuse severity by several annotators each.

ConvAbuse, Cercas Curry et al., 2021.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

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
    return unique_rows(row for file in source.files for record in csv_records(source, root, file)
                       if (row := _row(record)))


def _row(record: dict[str, str]) -> Row | None:
    """The user message at the median of its annotators' levels; None when no annotator rated it."""
    votes = [level for annotator in range(1, 9) for level in LEVELS
             if record.get(f"Annotator{annotator}_is_abuse.{level}") == "1"]
    if not votes:
        return None
    level = int(statistics.median_low(votes))
    return Row(record["user"], LEVELS[level], NAMES[level])
