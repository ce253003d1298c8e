"""Questions people typed into Google Suggest (WebQuestions, Berant et al., 2013): trivia about people, places,
history and films, wars, shootings and assassinations among them."""

from __future__ import annotations

import json
import random
from pathlib import Path

from curation.fitting.sources import Row, Source, unique_rows

SOURCE = Source(
    name="webquestions",
    repo="brmson/dataset-factoid-webquestions",
    files=("main/trainmodel.json", "main/val.json", "main/devtest.json", "main/test.json"),
    license="CC-BY-4.0 (README)",
    kind="prompts",
    mapping="every question -> 0 (factual questions, e.g. 'where was st peter killed?', 'when did the bali bombings "
            "occur?'); a seeded sample of 1500 of them, every split",
)

KEEP = 1500


def load(source: Source, root: Path) -> list[Row]:
    questions = [record["qText"] for file in source.files
                 for record in json.loads(source.path(root, file).read_text(encoding="utf-8"))]
    rows = unique_rows(Row(question, 0, "question") for question in questions)
    return random.Random(0).sample(rows, min(KEEP, len(rows)))
