"""Wikipedia talk-page comments with Jigsaw's six human toxicity labels.

a labelled sample of the Jigsaw Toxic Comment test set, shipped by IBM MAX.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="jigsaw_sample",
    repo="IBM/MAX-Toxic-Comment-Classifier",
    files=("samples/test_examples.csv",),
    license="Apache-2.0 (repository); data CC0 (Jigsaw), comment text CC-BY-SA-3.0 (Wikipedia)",
    kind="user_text",
    mapping="no label -> 0; toxic only -> 2; obscene or insult -> 3; severe_toxic or identity_hate -> 4; "
            "threat -> 5 (the most severe label set on a comment wins)",
)

# Most severe first: the first label a comment carries decides its score.
LEVELS = (("threat", 5), ("severe_toxic", 4), ("identity_hate", 4), ("obscene", 3), ("insult", 3), ("toxic", 2))


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(_row(record) for record in csv_records(source, root))


def _row(record: dict[str, str]) -> Row:
    score, label = next(((level, name) for name, level in LEVELS if record[name] == "1"), (0, "clean"))
    return Row(record["comment_text"], score, label)
