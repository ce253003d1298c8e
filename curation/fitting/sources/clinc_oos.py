"""Requests to a task-oriented assistant in 150 intents over 10 domains (banking, credit cards, travel, work, home,
auto, kitchen, utility, small talk, meta) plus out-of-scope queries, written by crowd workers (CLINC150).

Larson et al., 2019.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.fitting.sources import Row, Source, sample_per_label

SOURCE = Source(
    name="clinc_oos",
    repo="clinc/oos-eval",
    files=("data/data_full.json",),
    license="CC-BY-3.0",
    kind="prompts",
    mapping="every query -> 0 (everyday imperative requests and questions, e.g. freezing a card, booking travel, "
            "setting alarms, recipes); of the queries of 40 characters or more a seeded sample of 10 per intent "
            "(and 10 out-of-scope), every split",
)

PER_INTENT = 10
MIN_CHARS = 40


def load(source: Source, root: Path) -> list[Row]:
    data = json.loads(source.path(root, source.files[0]).read_text(encoding="utf-8"))
    return sample_per_label(((text, intent) for split in sorted(data) for text, intent in data[split]), PER_INTENT,
                            MIN_CHARS)
