"""Reddit and Gab posts labelled sexist or not, and the sexist ones by one of 11 fine-grained vectors.

EDOS, Explainable Detection of Online Sexism (SemEval-2023 Task 10), Kirk et al., 2023; the aggregated labels of
all three splits. Only the sexist posts are used: the annotators judged sexism alone, and many posts labelled not
sexist are still abusive in other ways, so calling them safe would be wrong.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="edos",
    repo="rewire-online/edos",
    files=("data/edos_labelled_aggregated.csv",),
    license="CC0-1.0",
    kind="user_text",
    mapping="sexist posts by fine-grained vector: threats of harm -> 5; incitement and encouragement of harm, "
            "aggressive and emotive attacks, dehumanising attacks and overt sexual objectification -> 4; descriptive "
            "attacks, casual gendered slurs, profanities and insults, supporting mistreatment of individual women or "
            "systemic discrimination -> 3; gender stereotypes, backhanded gendered compliments, condescending "
            "explanations or unwelcome advice -> 2. Posts labelled not sexist are dropped (only sexism was judged, "
            "and many of them are otherwise abusive)",
)

# label_vector's number (its text before the first space) -> level.
VECTORS = {
    "1.1": 5, "1.2": 4,
    "2.1": 3, "2.2": 4, "2.3": 4,
    "3.1": 3, "3.2": 2, "3.3": 2, "3.4": 2,
    "4.1": 3, "4.2": 3,
}


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(r["text"], VECTORS[r["label_vector"].split(" ", 1)[0]], r["label_vector"])
                       for r in csv_records(source, root) if r["label_sexist"] == "sexist")
