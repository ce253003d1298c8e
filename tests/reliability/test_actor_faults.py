"""Actor and task failures injected through SAFECURATE_FAULTS (no code edited): a model actor whose process dies
mid-batch is restarted by Ray and the shard completes (a model that raises on one row: test_failure_policy)."""

import pytest

from curation.config import load_config
from curation.run.driver import run_curation
from tests.reliability.test_crash import OPTIONS, SHARDS, comparable, write_shards

pytestmark = pytest.mark.timeout(600)


@pytest.mark.long  # make test: a worker node killed mid-run (tests/cluster/test_submit.py)
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
