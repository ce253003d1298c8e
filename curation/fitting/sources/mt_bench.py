"""Human-written multi-turn and single-turn chat questions of MT-Bench and the Vicuna benchmark (LMSYS FastChat)."""

from __future__ import annotations

import json
from pathlib import Path

from curation.fitting.sources import Row, Source

SOURCE = Source(
    name="mt_bench",
    repo="lm-sys/FastChat",
    files=("fastchat/llm_judge/data/mt_bench/question.jsonl", "fastchat/llm_judge/data/vicuna_bench/question.jsonl"),
    license="Apache-2.0",
    kind="prompts",
    mapping="every user turn -> 0 (writing, roleplay, reasoning, math, coding, knowledge questions)",
)


def load(source: Source, root: Path) -> list[Row]:
    rows, seen = [], set()
    for file in source.files:
        for line in source.path(root, file).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            question = json.loads(line)
            for turn in question["turns"]:
                text = turn.strip()
                if len(text) < 8 or text in seen:
                    continue
                seen.add(text)
                rows.append(Row(text, 0, question["category"]))
    return rows
