"""Human-written multi-turn and single-turn chat questions of MT-Bench and the Vicuna benchmark (LMSYS FastChat)."""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

SOURCE = Source(
    name="mt_bench",
    repo="lm-sys/FastChat",
    files=("fastchat/llm_judge/data/mt_bench/question.jsonl", "fastchat/llm_judge/data/vicuna_bench/question.jsonl"),
    license="Apache-2.0",
    kind="prompts",
    mapping="every user turn -> 0 (writing, roleplay, reasoning, math, coding, knowledge questions)",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(turn, 0, question["category"]) for file in source.files
                       for question in jsonl_records(source, root, file) for turn in question["turns"])
