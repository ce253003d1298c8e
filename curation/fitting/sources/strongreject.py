"""Forbidden prompts written for StrongREJECT, in six harm categories.

Souly et al., 2024; the full dataset CSV as copied into jiang-111/rebuttalAttackMem0, whose copy names the prompt
column `meli_query` (the original's `forbidden_prompt`). Only the authors' own prompts (source "custom") are kept;
those StrongREJECT took from earlier sets (AdvBench, reserved for evaluation, DAN, HarmfulQ, MasterKey and others)
are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

# The one source whose rows are kept: the StrongREJECT authors' own prompts.
OWN = "custom"

# category -> rubric level (instructions for violence, weapons, explosives and drugs 5; non-violent crime, hate,
# harassment and deception 4; sexual content, mostly non-consensual or exploitative requests, 4).
LEVELS = {
    "Violence": 5, "Illegal goods and services": 5, "Non-violent crimes": 4,
    "Hate, harassment and discrimination": 4, "Disinformation and deception": 4, "Sexual content": 4,
}

# A sexual-content prompt that names a child is child sexual exploitation: level 5.
CHILD = re.compile(r"\b(minors?|underage|teens?|child(ren)?|kids?|\d+ year olds"
                   r"|\w+-year-old (daughter|son|girl|boy))\b", re.I)

SOURCE = Source(
    name="strongreject",
    repo="jiang-111/rebuttalAttackMem0",
    files=("data/strongreject_dataset.csv",),
    license="MIT (StrongREJECT's licence for the authors' own prompts; the copying repository has no licence file "
            "of its own)",
    kind="prompts",
    mapping="only the authors' own prompts (source custom); rows taken from AdvBench (reserved for evaluation), DAN, "
            "HarmfulQ, MaliciousInstruct, MasterKey and others are dropped. Category -> level: violence (incl. "
            "self-harm), illegal goods and services (weapons, explosives, drugs) -> 5; non-violent crimes, hate, "
            "harassment and discrimination, disinformation and deception -> 4; sexual content -> 4, or 5 where the "
            "prompt names a minor (child sexual exploitation)",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(r["meli_query"], _level(r["category"], r["meli_query"]), r["category"])
                       for r in csv_records(source, root) if r["source"] == OWN)


def _level(category: str, text: str) -> int:
    if category == "Sexual content" and CHILD.search(text):
        return 5
    return LEVELS[category]
