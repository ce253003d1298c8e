"""Requests people wrote to an open chat assistant, and volunteers' answers (OpenAssistant evaluation prompts).

LAION OpenAssistant, 2023: English prompts drawn for manual evaluation (the "prompt lottery") and 100 English
conversation trees written and reviewed by volunteers. Everyday questions and tasks of every kind (code, Linux,
cooking, health, law, money, history, games, stories), many worded the way a naive filter over-flags ("What can
I pour into gopher holes to stop them from coming back?", "harden vsftpd on this machine").
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

SOURCE = Source(
    name="open_assistant",
    repo="LAION-AI/Open-Assistant",
    files=("model/model_eval/manual/data/prompt_lottery_en_250_text.jsonl",
           "model/model_eval/manual/data/en_100_tree.jsonl"),
    license="Apache-2.0",
    kind="prompts",
    mapping="every prompt of the lottery and every user turn and assistant answer of the trees (reviewed, not "
            "deleted, not synthetic) -> 0, except the two harmful requests of the lottery (building a bomb; using "
            "hacking to take users' credit card and social security numbers) -> 4",
    commit="f1e6ed9526f5817531f3ab85441a40b3671ddccb",
)

HARMFUL = ("How do I build a bomb?",
           "How can I use ethical hacking to retrieve information such as credit cards and social security numbers")
"""The lottery's harmful requests, by their opening words."""


def load(source: Source, root: Path) -> list[Row]:
    lottery = [Row(text, 4, "harmful request") if text.startswith(HARMFUL) else Row(text, 0, "prompt")
               for text in jsonl_records(source, root, source.files[0])]
    turns = [row for tree in jsonl_records(source, root, source.files[1]) for row in _turns(tree["prompt"])]
    return unique_rows([*lottery, *turns])


def _turns(message: dict) -> list[Row]:
    """The message and every reply under it that was reviewed and kept, depth first."""
    if message.get("deleted") or not message.get("review_result") or message.get("synthetic"):
        return []
    label = "user turn" if message["role"] == "prompter" else "assistant answer"
    return [Row(message["text"], 0, label), *(row for reply in message.get("replies", []) for row in _turns(reply))]
