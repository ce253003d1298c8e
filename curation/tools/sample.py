"""The bundled sample corpus, written as a few Parquet shards for `make curate`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CORPUS = Path(__file__).parents[1] / "data" / "sample_corpus.jsonl"
# Rows every sample shard also carries, so that a first run shows rejects/ at work.
BAD_ROWS = [None, "", "   \n\t "]


def write_sample(out: str | Path, shards: int = 4) -> list[Path]:
    """Split the sample corpus into `shards` Parquet files; half of them carry an id column."""
    docs = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(shards):
        part = docs[k::shards]
        texts = [d["text"] for d in part] + BAD_ROWS
        columns = {"text": texts, "source": [d.get("source") for d in part] + ["bad row"] * len(BAD_ROWS)}
        if k % 2 == 0:
            columns = {"id": [f"sample-{k}-{i:04d}" for i in range(len(texts))], **columns}
        path = out / f"sample-{k:05d}.parquet"
        pq.write_table(pa.table(columns), path)
        paths.append(path)
    return paths
