"""The classifier's training table: every available public source plus the project's seed set, as Parquet.

    python -m curation.fitting.table --raw FOLDER --out table.parquet

FOLDER holds the fetched files as `FOLDER/<owner>+<repo>/<path>`; a source whose files are absent is skipped
(and said so). Rows are deduplicated across sources by normalised text (first source wins), and a source larger
than `--cap` rows is cut to a seeded sample, stratified by score, so no one source outweighs the rest.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.fitting.sources import Row, Source, all_sources

SEED_DIR = Path(__file__).resolve().parent.parent / "data" / "seed"
SEED_SOURCE = Source(name="seed", repo="(this project)", files=(), license="Apache-2.0 (this project)",
                     kind="web_text", mapping="written with a 0-5 score per row")
TABLE_SCHEMA = pa.schema([("text", pa.string()), ("score", pa.int64()), ("source", pa.string()),
                          ("kind", pa.string()), ("label", pa.string())])


def seed_rows(folder: Path = SEED_DIR) -> list[Row]:
    """The project's own labeled seed set (JSON lines with text and score)."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                rows.append(Row(record["text"], int(record["score"]), record.get("category", "")))
    return rows


def text_key(text: str) -> str:
    """What two rows share when they are the same text: lower case, runs of non-word characters one space."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def _cap(rows: list[Row], cap: int, seed: int) -> list[Row]:
    """At most `cap` rows, each score keeping its share (at least one row per score present)."""
    if len(rows) <= cap:
        return rows
    by_score: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_score[row.score].append(row)
    rng, kept = random.Random(seed), []
    for score in sorted(by_score):
        group = by_score[score]
        kept += rng.sample(group, max(1, round(cap * len(group) / len(rows))))
    return kept


def build_table(raw: Path | None, cap: int = 6000, seed: int = 0, with_seed: bool = True) -> tuple[pa.Table, list]:
    """(table, per-source summary) from the sources found under `raw` and the seed set."""
    loaded: list[tuple[Source, list[Row]]] = []
    if with_seed:
        loaded.append((SEED_SOURCE, seed_rows()))
    for source in all_sources():
        if raw is not None and source.available(raw):
            loaded.append((source, source.load(raw)))
        else:
            print(f"skipped {source.name}: files not found under {raw}")
    seen: set[str] = set()
    columns: dict[str, list] = {name: [] for name in TABLE_SCHEMA.names}
    summary = []
    for source, rows in loaded:
        unique = []
        for row in rows:
            key = text_key(row.text)
            if len(key) >= 8 and key not in seen and 0 <= row.score <= 5:
                seen.add(key)
                unique.append(row)
        used = _cap(unique, cap, seed)
        for row in used:
            for name, value in zip(TABLE_SCHEMA.names, (row.text.strip(), row.score, source.name, source.kind,
                                                        row.label), strict=True):
                columns[name].append(value)
        counts = Counter(row.score for row in used)
        summary.append({"source": source.name, "repo": source.repo + (f"@{source.commit[:7]}" if source.commit else ""),
                        "license": source.license,
                        "kind": source.kind, "rows_read": len(rows), "rows_used": len(used),
                        "scores": {str(k): counts.get(k, 0) for k in range(6)}, "mapping": source.mapping})
    return pa.table(columns, schema=TABLE_SCHEMA), summary


def table_columns(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, scores, sources) of a training table, as the fits and the benchmarks read it."""
    return table["text"].to_pylist(), np.asarray(table["score"].to_pylist()), np.asarray(table["source"].to_pylist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched files, <owner>+<repo>/<path>")
    parser.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    parser.add_argument("--cap", type=int, default=6000, help="most rows taken from one source")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table, summary = build_table(args.raw, args.cap, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.out)
    for entry in summary:
        print(f"{entry['source']:<14} {entry['rows_used']:>6} of {entry['rows_read']:>6}  {entry['scores']}")
    print(f"{table.num_rows} rows -> {args.out}")


if __name__ == "__main__":
    main()
