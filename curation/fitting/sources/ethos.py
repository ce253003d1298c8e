"""YouTube and Reddit comments with crowd-sourced hate speech shares and violence labels.

ETHOS, Mollas et al., 2022.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="ethos",
    repo="intelligence-csd-auth-gr/Ethos-Hate-Speech-Dataset",
    files=("ethos/ethos_data/Ethos_Dataset_Binary.csv", "ethos/ethos_data/Ethos_Dataset_Multi_Label.csv"),
    license="GPL-3.0",
    kind="user_text",
    mapping="isHate (share of annotators seeing hate) 0 -> 0; below 0.5 -> 2 (some annotators offended: insults, "
            "sarcasm); 0.5 or more -> 4 (hate speech), or 5 when the multi-label file marks it as inciting "
            "violence (violence >= 0.5)",
)


def load(source: Source, root: Path) -> list[Row]:
    violent = {r["comment"].strip() for r in csv_records(source, root, source.files[1], delimiter=";")
               if float(r["violence"]) >= 0.5}
    return unique_rows(_row(r["comment"].strip(), float(r["isHate"]), violent)
                       for r in csv_records(source, root, delimiter=";"))


def _row(text: str, share: float, violent: set[str]) -> Row:
    if share == 0:
        score, label = 0, "no_hate"
    elif share < 0.5:
        score, label = 2, "minority_hate"
    elif text in violent:
        score, label = 5, "hate_violence"
    else:
        score, label = 4, "hate"
    return Row(text, score, label)
