"""PHTest (An et al., 2024, "Automatic Pseudo-Harmful Prompt Generation for Evaluating False Refusals"): requests
written by an attack-style generator to look harmful to a chat model while being harmless ("a killer AI-powered
hack for my shop's sales", "how is a unit killed in StarCraft?"), each labelled by the authors harmless or
controversial.

The data set left the repository in a later commit; it is read at the last commit that holds it.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="phtest",
    repo="umd-huang-lab/FalseRefusal",
    files=("PHTest/dataset_v0.1.csv",),
    commit="b40367125ba1255cdd30137d2726d3c775164f39",
    license="MIT (the data set's card, furonghuang-lab/PHTest; the repository has no licence file of its own)",
    kind="prompts",
    mapping="harmless -> 0; controversial (fiction about bombers, scraping past terms of service: the authors "
            "leave them undecided) -> dropped",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(record["Request"], 0, "harmless") for record in csv_records(source, root)
                       if record["Harmfulness"] == "harmless")
