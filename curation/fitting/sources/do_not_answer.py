"""Requests a responsible assistant should not follow, in 12 harm types.

Do-Not-Answer, Wang et al., 2023; English file as copied by do-not-answer-ja.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

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
    return unique_rows(Row(r["question"], LEVELS[r["types_of_harm"]], r["types_of_harm"])
                       for r in csv_records(source, root))
