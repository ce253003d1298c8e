"""Tweets labelled hate speech / offensive / neither by crowd workers (Davidson et al., 2017)."""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records

SOURCE = Source(
    name="davidson",
    repo="t-davidson/hate-speech-and-offensive-language",
    files=("data/labeled_data.csv",),
    license="MIT",
    kind="user_text",
    mapping="majority class: hate speech -> 4 (slurs, hate), offensive language -> 3 (strong profanity, insults), "
            "neither -> 1 if any coder saw offence else 0",
)


def load(source: Source, root: Path) -> list[Row]:
    return [_row(record) for record in csv_records(source, root)]


def _row(record: dict[str, str]) -> Row:
    cls = int(record["class"])
    if cls == 0:
        score, label = 4, "hate_speech"
    elif cls == 1:
        score, label = 3, "offensive_language"
    else:
        offended = int(record["hate_speech"]) + int(record["offensive_language"])
        score, label = (1 if offended else 0), "neither"
    return Row(record["tweet"], score, label)
