"""Questions people asked licensed therapists on counselchat.com, and the therapists' answers, by topic.

CounselChat, Bertagnolli, 2020: depression, anxiety, intimacy and sexuality, trauma, domestic violence, self-harm,
substance abuse and more. Safe text that talks about suicide, self-harm, sex and abuse: hard negatives.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="counsel_chat",
    repo="nbertagnolli/counsel-chat",
    files=("data/20200325_counsel_chat.csv",),
    license="MIT (repository); the texts are public posts scraped from counselchat.com",
    kind="user_text",
    mapping="every text -> 1 (stressful and adult topics without harm): therapist answers (supportive, professional "
            "talk of depression, sexuality, abuse, suicide and self-harm) and user questions, title and text "
            "(personal stress, relationships, intimacy, past abuse or a relative's suicide attempt told while "
            "asking for help); no topic is scored higher, as the two self-harm questions ask how to cope or help",
)


def load(source: Source, root: Path) -> list[Row]:
    records = list(csv_records(source, root))
    questions = (Row(_question(r), 1, f"question:{r['topic']}") for r in records)
    answers = (Row(r["answerText"], 1, f"answer:{r['topic']}") for r in records)
    return unique_rows([*questions, *answers])


def _question(record: dict[str, str]) -> str:
    """The question's title, then its text when the text is more than the title."""
    title, text = record["questionTitle"].strip(), record["questionText"].strip()
    return text if not title or title in text else f"{title}\n{text}"
