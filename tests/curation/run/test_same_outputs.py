"""The bundled sample, generation off, gives the outputs recorded in golden/sample.json: the same scored and
rejected rows and the same manifest counts. Code that moves or renames things must not change what a user gets.

The record was written from a run of the release before the package was split into layers. After a change
that is meant to move scores (a new head, a new window rule), rewrite it with
`python -m tests.curation.run.test_same_outputs OUT` from a fresh `safecurate curate` of the sample into OUT.
"""

import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.tools.sample import write_sample

GOLDEN = Path(__file__).parent / "golden" / "sample.json"
SCORED = ("id", "safety_score", "embed_score", "llm_score", "route", "tokens")
REJECTED = ("row_index", "id", "stage", "reason", "text_preview")


def record(out: Path) -> dict:
    """What a curation output folder holds, per shard: scored rows, rejected rows, manifest counts and routes."""
    shards = {}
    for manifest in sorted((out / "_manifest").glob("*.json")):
        stem = manifest.stem
        scored = pq.read_table(out / "scored" / f"{stem}.parquet")
        rejects = pq.read_table(out / "rejects" / f"{stem}.parquet")
        meta = json.loads(manifest.read_text())
        shards[stem] = {
            "columns": scored.column_names,
            "scored": {name: scored[name].to_pylist() for name in SCORED},
            "safety_prob": scored["safety_prob"].to_pylist(),
            "text_sha256": hashlib.sha256(json.dumps(scored["text"].to_pylist()).encode()).hexdigest(),
            "rejects": rejects.select(list(REJECTED)).to_pylist(),
            "counts": meta["counts"],
            "routes": meta["routes"],
            "reflections": pq.read_table(out / "reflections" / f"{stem}.parquet").select(
                ["id", "source_id", "segments", "unsafe_segments"]).to_pylist(),
        }
    return shards


@pytest.mark.usefixtures("ray_local")
def test_the_sample_curates_to_the_recorded_outputs(tmp_path):
    from curation.run.driver import run_curation

    write_sample(tmp_path / "in")
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(tmp_path / "out"),
                           load_config(None, ["generation.enabled=false"]), progress=False)
    assert summary.ok and len(summary.committed) == 4
    got, want = record(tmp_path / "out"), json.loads(GOLDEN.read_text())
    assert list(got) == list(want)
    for stem, shard in want.items():
        for key in ("columns", "scored", "text_sha256", "rejects", "counts", "routes", "reflections"):
            assert got[stem][key] == shard[key], f"{stem}: {key} changed"
        # the encoder's last bits move with batch composition and CPU; four decimals can flip by one unit
        assert got[stem]["safety_prob"] == pytest.approx(shard["safety_prob"], abs=2e-4)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(record(Path(sys.argv[1])), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
