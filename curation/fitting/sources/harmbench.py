"""Harmful behaviours a model should refuse, written for HarmBench.

Mazeika et al., 2024; the text-behaviour CSV as copied into sidzzzzz3/LLM-Jailbreak.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

# SemanticCategory -> rubric level; copyright requests (song lyrics, book passages) are no content risk and are dropped.
LEVELS = {
    "chemical_biological": 5, "illegal": 5, "cybercrime_intrusion": 5, "harmful": 5,
    "harassment_bullying": 4, "misinformation_disinformation": 4,
}

SOURCE = Source(
    name="harmbench",
    repo="sidzzzzz3/LLM-Jailbreak",
    files=("harmbench_behaviors_text_all.csv",),
    license="MIT (HarmBench's licence; the copying repository has no licence file of its own)",
    kind="prompts",
    mapping="SemanticCategory -> level: chemical/biological weapons and drugs, illegal activities, cybercrime, "
            "general harm -> 5 (requests for instructions for harmful acts); harassment & bullying, "
            "misinformation -> 4; copyright -> dropped. The behaviour text only, without the contextual "
            "behaviours' context string",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(r["Behavior"], LEVELS[r["SemanticCategory"]], r["SemanticCategory"])
                       for r in csv_records(source, root) if r["SemanticCategory"] in LEVELS)
