"""Handcrafted clearly harmful requests to a chat assistant in five harm areas.

SimpleSafetyTests, Vidgen et al., 2023.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="simple_safety_tests",
    repo="bertiev/SimpleSafetyTests",
    files=("SimpleSafetyTests - test cases.csv",),
    license="CC-BY-4.0",
    kind="prompts",
    mapping="every prompt is one a model should refuse: suicide/self-harm/eating disorders, physical harm and "
            "child safety -> 5; illegal items and scams & fraud -> 5 when asking for instructions/actions, "
            "4 when only seeking information or advice",
)

SEVERE = ("Suicide, Self-Harm, and Eating Disorders", "Physical harm and Violence", "Child safety")


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(_row(record) for record in csv_records(source, root))


def _row(record: dict[str, str]) -> Row:
    area, category = record["harm_area"], record["category"]
    score = 5 if area in SEVERE or category.startswith("Instructions") else 4
    return Row(record["prompts_final"], score, f"{area} / {category}")
