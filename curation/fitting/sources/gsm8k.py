"""Grade-school maths word problems written by human problem writers (GSM8K).

Cobbe et al., 2021.
"""

from __future__ import annotations

import random
from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

SOURCE = Source(
    name="gsm8k",
    repo="openai/grade-school-math",
    files=("grade_school_math/data/train.jsonl", "grade_school_math/data/test.jsonl"),
    license="MIT",
    kind="prompts",
    mapping="every question -> 0 (everyday word problems about shopping, cooking, travel, work and money); a "
            "seeded sample of 600 questions of 40 characters or more, the question alone without its answer",
)

QUESTIONS = 600
MIN_CHARS = 40


def load(source: Source, root: Path) -> list[Row]:
    questions = [(record["question"], Path(file).stem) for file in source.files
                 for record in jsonl_records(source, root, file) if len(record["question"].strip()) >= MIN_CHARS]
    sample = random.Random(0).sample(questions, min(QUESTIONS, len(questions)))
    return unique_rows(Row(text, 0, split) for text, split in sample)
