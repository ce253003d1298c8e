"""Actor and task failures injected through SAFECURATE_FAULTS (no code edited): a model actor whose process dies
mid-batch is restarted by Ray and the shard completes; a model that raises on one row rejects that row only."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.run.driver import run_curation
from tests.reliability.test_crash import OPTIONS, SHARDS, comparable, write_shards

pytestmark = pytest.mark.timeout(600)


def test_an_embedding_actor_killed_mid_batch_is_restarted_and_the_shards_complete(ray_local, tmp_path, monkeypatch,
                                                                                  ledger):
    write_shards(tmp_path / "in")
    (tmp_path / "once").mkdir()
    monkeypatch.setenv("SAFECURATE_FAULTS", "embed.batch=exit@2")  # the actor's process dies on its 2nd batch
    monkeypatch.setenv("SAFECURATE_FAULTS_ONCE", str(tmp_path / "once"))
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(tmp_path / "out"), load_config(None, OPTIONS),
                           progress=False)
    assert (tmp_path / "once" / "embed.batch").exists(), "the fault did not fire"
    assert summary.ok and sorted(summary.committed) == sorted(SHARDS)
    monkeypatch.delenv("SAFECURATE_FAULTS")
    run_curation(str(tmp_path / "in" / "*.parquet"), str(tmp_path / "ref"), load_config(None, OPTIONS),
                 progress=False)
    assert comparable(tmp_path / "out") == comparable(tmp_path / "ref")
    entry = ledger("embedding actor process killed mid-batch (Ray restarts it)", faults=1, out=tmp_path / "out",
                   inputs=SHARDS)
    assert entry.rows_lost == 0 and entry.duplicates == 0


def test_a_model_that_raises_on_one_row_rejects_that_row_only(ray_local, tmp_path, monkeypatch, ledger):
    texts = [f"An ordinary sentence about gardening, number {i}." for i in range(20)]
    texts[7] = "This one is poison to the classifier."
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(20)], "text": texts}), tmp_path / "in" / "p.parquet")
    monkeypatch.setenv("SAFECURATE_FAULTS", "embed.row=raise:poison")
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(tmp_path / "out"), load_config(None, OPTIONS),
                           progress=False)
    assert summary.ok
    rejects = pq.read_table(tmp_path / "out" / "rejects" / "p.parquet").to_pylist()
    assert [(r["id"], r["reason"]) for r in rejects] == [("r7", "embed_error:InjectedFault")]
    assert pq.read_table(tmp_path / "out" / "scored" / "p.parquet").num_rows == 19
    entry = ledger("model raises on one row", faults=1, out=tmp_path / "out", inputs={"p": 20})
    assert entry.rows_lost == 0 and entry.duplicates == 0
