"""Reddit posts and comments labelled for misogyny by trained annotators, disagreements settled by an expert.

An expert annotated dataset for the detection of online misogyny, Guest et al., EACL 2021. Taken mostly from
manosphere subreddits, so the texts labelled neither misogynistic nor a personal attack still swear often: those
that do are left out rather than scored safe, as the rubric puts profanity at 3.
"""

from __future__ import annotations

import re
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

# level_2 -> score; Treatment is scored by its level_3 (threats of violence 5, of exposure 4, disrespect 3).
LEVELS = {
    "None_of_the_categories": 0, "Counter_speech": 1, "Misogynistic_pejorative": 3, "Derogation": 3,
    "Misogynistic_personal_attack": 3, "Nonmisogynistic_personal_attack": 3, "Treatment": 3,
}
TREATMENT = {"Threatening_Physical_violence": 5, "Threatening_Sexual_violence": 5, "Threatening_Privacy": 4}
GONE = {"", "[removed]", "[deleted]"}
PROFANITY = re.compile(r"\b(fuck|cunt|bitch|faggot|fag|slut|whore|retard|nigg|dick|pussy|shit)", re.IGNORECASE)

SOURCE = Source(
    name="reddit_misogyny",
    repo="ellamguest/online-misogyny-eacl2021",
    files=("data/final_labels.csv",),
    license="MIT (LICENSE.md, (c) 2023 Ella Guest; it covers the whole repository, data included)",
    kind="user_text",
    mapping="agreed level_2 label of the post or comment body: None_of_the_categories -> 0 (dropped when it swears or "
            "uses a slur), Counter_speech -> 1, Misogynistic_pejorative, Derogation, Misogynistic_personal_attack, "
            "Nonmisogynistic_personal_attack and Treatment (disrespectful actions) -> 3, Treatment threatening privacy "
            "-> 4, Treatment threatening physical or sexual violence -> 5; a text labelled more than once takes its "
            "highest score; empty, [removed] or [deleted] bodies and image posts labelled for abuse (the picture may "
            "carry it) are dropped",
)


def load(source: Source, root: Path) -> list[Row]:
    best: dict[str, Row] = {}
    for record in csv_records(source, root):
        row = _row(record)
        if row and (row.text not in best or row.score > best[row.text].score):
            best[row.text] = row
    return unique_rows(row for row in best.values() if row.score or not PROFANITY.search(row.text))


def _row(record: dict[str, str]) -> Row | None:
    """The body at its label's score; None when the body is gone or the label may rest on an image."""
    text, image, level = record["body"].strip(), record["image"].strip(), record["level_2"]
    if text in GONE or (image == "Yes" and level != "None_of_the_categories"):
        return None
    if image not in ("", "Yes"):  # a few bodies were split at a comma into the image column
        text = f"{text}, {image}"
    if level == "Treatment":
        return Row(text, TREATMENT.get(record["level_3"], LEVELS[level]), f"Treatment/{record['level_3']}")
    return Row(text, LEVELS[level], level)
