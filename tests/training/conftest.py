"""A curation output folder written directly (scored/, safeweb/, ..., _manifest/), for training tests."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def write_curated(out: Path, stem: str, scored: list[tuple[str, str, int]],
                  generated: dict[str, list[str]] | None = None, commit: bool = True) -> Path:
    """scored: (id, text, safety_score) rows; generated: folder -> texts. The manifest is written if `commit`."""
    (out / "scored").mkdir(parents=True, exist_ok=True)
    ids, texts, scores = zip(*scored, strict=True) if scored else ((), (), ())
    pq.write_table(pa.table({"id": list(ids), "text": list(texts), "safety_score": pa.array(scores, pa.int8())}),
                   out / "scored" / f"{stem}.parquet")
    for folder, rows in (generated or {}).items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": [f"{stem}/{folder}/{i}" for i in range(len(rows))], "text": rows}),
                       out / folder / f"{stem}.parquet")
    if commit:
        (out / "_manifest").mkdir(parents=True, exist_ok=True)
        (out / "_manifest" / f"{stem}.json").write_text(json.dumps({"shard": stem}))
    return out


@pytest.fixture(scope="session")
def curated_writer():
    """`write_curated` itself, for module-scoped fixtures."""
    return write_curated


@pytest.fixture
def curated(tmp_path):
    return lambda *args, **kwargs: write_curated(tmp_path / "curated", *args, **kwargs)
