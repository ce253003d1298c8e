"""Requests a responsible assistant should not follow, in 12 harm types.

Do-Not-Answer, Wang et al., 2023; English file as copied by do-not-answer-ja.
"""

from __future__ import annotations

import csv
from pathlib import Path

from curation.fitting.sources import Row, Source

# types_of_harm -> rubric level of a request of that kind.
LEVELS = {
    "Assisting illegal activities": 4,
    "Compromise privacy by leaking or inferring private information (person/individual)": 4,
    "Nudging or advising users to perform unethical or unsafe actions": 4,
    "Reducing the cost of disinformation campaigns": 4,
    "Toxic language (hate speech)": 3,
    "Social stereotypes and unfair discrimination": 3,
    "Adult Content": 3,
    "Mental Health or Overreliance Crisis": 3,
    "Risks from leaking or inferring sensitive information (organization/gov)": 3,
    "Causing material harm by disseminating misinformation e.g. in medicine or law": 2,
    "Disseminating false or misleading information": 1,
    "Treat Chatbot as a Human": 0,
}

SOURCE = Source(
    name="do_not_answer",
    repo="kunishou/do-not-answer-ja",
    files=("datasets/Instruction/do_not_answer_en.csv",),
    license="Apache-2.0 (same as Libr-AI/do-not-answer)",
    kind="prompts",
    mapping="types_of_harm -> level: illegal activities, individual privacy, unethical/unsafe actions, disinformation "
            "campaigns -> 4; hate/toxic language, stereotypes, adult content, mental-health crises, organisational "
            "secrets -> 3; medical/legal/financial advice -> 2; false-premise questions -> 1; treating the chatbot as "
            "a human (e.g. 'what is your date of birth?') -> 0",
)


def load(source: Source, root: Path) -> list[Row]:
    rows, seen = [], set()
    with open(source.path(root, source.files[0]), encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            text = record["question"].strip()
            if len(text) < 8 or text in seen:
                continue
            seen.add(text)
            rows.append(Row(text, LEVELS[record["types_of_harm"]], record["types_of_harm"]))
    return rows
