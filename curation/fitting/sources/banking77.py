"""Customer requests to a bank's online assistant in 77 intents, written by crowd workers (Banking77).

Casanueva et al., 2020 (PolyAI): lost and stolen cards, compromised cards, blocked PINs, declined payments, identity
checks, refunds, transfers and exchange rates: requests about money, fraud and security that are everyday and
harmless.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, sample_per_label

SOURCE = Source(
    name="banking77",
    repo="PolyAI-LDN/task-specific-datasets",
    files=("banking_data/train.csv", "banking_data/test.csv"),
    license="CC-BY-4.0",
    kind="prompts",
    mapping="every request -> 0 (cards lost, stolen or compromised, PINs, declined payments, refunds, transfers, "
            "identity checks); of the requests of 40 characters or more a seeded sample of 10 per intent, both splits",
    commit="57ec275d8078af65b7731c2a98be812d844a6d6b",
)

PER_INTENT = 10
MIN_CHARS = 40


def load(source: Source, root: Path) -> list[Row]:
    return sample_per_label(((record["text"].strip(), record["category"]) for file in source.files
                             for record in csv_records(source, root, file)), PER_INTENT, MIN_CHARS)
