"""Human-written everyday task instructions: the 175 self-instruct seed tasks and 252 user-oriented tasks.

Wang et al., 2022.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.fitting.sources import Row, Source

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
    rows, seen = [], set()
    for file in source.files:
        label = Path(file).stem
        for line in source.path(root, file).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            task = json.loads(line)
            instruction = task["instruction"].strip()
            inputs = [i["input"].strip() for i in task["instances"] if i["input"].strip()]
            texts = [instruction] + [f"{instruction}\n{text}" for text in inputs]
            for text in texts:
                if len(text) < 8 or text in seen:
                    continue
                seen.add(text)
                rows.append(Row(text, 0, label))
    return rows
