"""Human-written everyday task instructions: the 175 self-instruct seed tasks and 252 user-oriented tasks.

Wang et al., 2022.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

SOURCE = Source(
    name="self_instruct",
    repo="yizhongw/self-instruct",
    files=("data/seed_tasks.jsonl", "human_eval/user_oriented_instructions.jsonl"),
    license="Apache-2.0",
    kind="prompts",
    mapping="every instruction -> 0 (ordinary harmless tasks); the instruction alone, and the instruction with each "
            "of its instance inputs appended on a new line when it has one",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(row for file in source.files for task in jsonl_records(source, root, file)
                       for row in _rows(task, Path(file).stem))


def _rows(task: dict, label: str) -> list[Row]:
    """The instruction alone, then with each non-blank instance input on a new line."""
    instruction = task["instruction"].strip()
    inputs = [i["input"].strip() for i in task["instances"] if i["input"].strip()]
    return [Row(text, 0, label) for text in [instruction] + [f"{instruction}\n{text}" for text in inputs]]
