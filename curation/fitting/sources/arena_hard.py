"""Hard real-user questions picked from Chatbot Arena for Arena-Hard-Auto v0.1 (coding, maths, writing, science).

Li et al., 2024 (LMSYS).
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

SOURCE = Source(
    name="arena_hard",
    repo="lm-sys/arena-hard-auto",
    files=("data/arena-hard-v0.1/question.jsonl",),
    license="Apache-2.0",
    kind="prompts",
    mapping="every question (its first user turn) -> 0 (technical, creative and knowledge requests written by "
            "Chatbot Arena users); rows of 40 characters or more",
)

MIN_CHARS = 40


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(question["turns"][0]["content"], 0, question["cluster"])
                       for question in jsonl_records(source, root, source.files[0])
                       if len(question["turns"][0]["content"].strip()) >= MIN_CHARS)
