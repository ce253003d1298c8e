"""Handcrafted clearly harmful requests to a chat assistant in five harm areas.

SimpleSafetyTests, Vidgen et al., 2023.
"""

from __future__ import annotations

import csv
from pathlib import Path

from curation.fitting.sources import Row, Source

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
    rows, seen = [], set()
    with open(source.path(root, source.files[0]), encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            text = record["prompts_final"].strip()
            if len(text) < 8 or text in seen:
                continue
            seen.add(text)
            area, category = record["harm_area"], record["category"]
            score = 5 if area in SEVERE or category.startswith("Instructions") else 4
            rows.append(Row(text, score, f"{area} / {category}"))
    return rows
