"""The failure policy through the real pipeline: a blip is retried and changes nothing; a failure that persists
fails its shard (no manifest, a _failed/ record naming the stage, exit 1) instead of turning into nulls or
rejects while the run exits 0. Faults come from SAFECURATE_FAULTS; no code is edited."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.run.driver import run_curation
from tests.reliability.test_crash import OPTIONS, TEXTS

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).parents[2]
FAST = [*OPTIONS, "failures.backoff_s=0.05"]
ROWS = 75


def write_shard(folder: Path, rows: int = ROWS, name: str = "s") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(rows)],
                             "text": [f"{TEXTS[i % len(TEXTS)] or 'A plain note.'} (row {i})" for i in range(rows)]}),
                   path, row_group_size=25)
    return path


def scored(out: Path, columns=("id", "safety_score", "llm_score")) -> list[dict]:
    return pq.read_table(out / "scored" / "s.parquet", columns=list(columns)).to_pylist()


def curate(tmp_path: Path, out: str, faults: str | None, monkeypatch, extra=()):
    if faults:
        monkeypatch.setenv("SAFECURATE_FAULTS", faults)
    else:
        monkeypatch.delenv("SAFECURATE_FAULTS", raising=False)
    return run_curation(str(tmp_path / "in" / "*.parquet"), str(tmp_path / out), load_config(None, [*FAST, *extra]),
                        progress=False)


def assert_failed(tmp_path: Path, out: str, summary, stage: str) -> dict:
    assert not summary.ok and not summary.committed
    assert not (tmp_path / out / "_manifest" / "s.json").exists()
    record = json.loads((tmp_path / out / "_failed" / "s.json").read_text())
    assert record["stage"] == stage, record
    return record


def fire_once(tmp_path: Path, monkeypatch) -> Path:
    """Faults fire once across every process of the run (a marker file per fault point)."""
    (tmp_path / "once").mkdir()
    monkeypatch.setenv("SAFECURATE_FAULTS_ONCE", str(tmp_path / "once"))
    return tmp_path / "once"


def test_a_row_group_that_fails_to_read_once_is_read_again(ray_local, tmp_path, monkeypatch, ledger):
    write_shard(tmp_path / "in")
    once = fire_once(tmp_path, monkeypatch)
    summary = curate(tmp_path, "out", "read.row_group=raise", monkeypatch)
    assert (once / "read.row_group").exists(), "the fault did not fire"
    assert summary.ok, summary.failed
    rejects = pq.read_table(tmp_path / "out" / "rejects" / "s.parquet").to_pylist()
    assert not [r for r in rejects if r["reason"].startswith("unreadable")]
    assert curate(tmp_path, "ref", None, monkeypatch).ok
    assert scored(tmp_path / "out") == scored(tmp_path / "ref")
    entry = ledger("a row group fails to read once (retried)", faults=1, out=tmp_path / "out", inputs={"s": ROWS})
    assert entry.rows_lost == 0 and entry.duplicates == 0


def test_a_row_group_that_never_reads_fails_its_shard(ray_local, tmp_path, monkeypatch, ledger):
    write_shard(tmp_path / "in")
    summary = curate(tmp_path, "out", "read.row_group=raise@*", monkeypatch)
    record = assert_failed(tmp_path, "out", summary, "read")
    assert "unreadable_row_group" in record["reason"]
    ledger("every row-group read fails: shard failed, not rejected", faults=ROWS)


def test_an_encoder_that_fails_every_row_fails_its_shard_instead_of_rejecting_it(ray_local, tmp_path, monkeypatch,
                                                                                 ledger):
    write_shard(tmp_path / "in")
    summary = curate(tmp_path, "out", "embed.row=raise@*", monkeypatch)
    record = assert_failed(tmp_path, "out", summary, "embed")
    assert f"{ROWS} of {ROWS} rows" in record["reason"]
    assert not (tmp_path / "out" / "scored" / "s.parquet").exists()
    ledger("the encoder raises on every row: shard failed, not 100% rejects", faults=ROWS)


def test_one_bad_row_in_a_large_shard_is_a_reject_not_a_failure(ray_local, tmp_path, monkeypatch, ledger):
    path = write_shard(tmp_path / "in", rows=200)
    table = pq.read_table(path)
    texts = table["text"].to_pylist()
    texts[7] = "This one is poison to the classifier."
    pq.write_table(table.set_column(1, "text", pa.array(texts)), path)
    summary = curate(tmp_path, "out", "embed.row=raise:poison", monkeypatch)
    assert summary.ok, summary.failed  # 1 of 200 rows: under failures.max_stage_share
    rejects = pq.read_table(tmp_path / "out" / "rejects" / "s.parquet").to_pylist()
    assert [(r["id"], r["reason"]) for r in rejects] == [("r7", "embed_error:InjectedFault")]
    entry = ledger("one row of 200 breaks the encoder: that row rejected", faults=1, out=tmp_path / "out",
                   inputs={"s": 200})
    assert entry.rows_lost == 0 and entry.duplicates == 0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.tiny_model import tiny_chat_model_dir

    return tiny_chat_model_dir(tmp_path_factory.mktemp("tiny"))


def llm_options(model) -> list[str]:
    return ["scoring.llm.enabled=true", f"scoring.llm.model={model}", "scoring.llm.kv_cache_gib=0.25",
            "scoring.llm.max_model_len=1024", "resources.llm.num_cpus=1", "resources.llm.batch_size=32"]


def test_an_llm_batch_that_raises_once_is_retried_and_changes_nothing(ray_local, tmp_path, monkeypatch, tiny_model,
                                                                      ledger):
    pytest.importorskip("vllm")
    write_shard(tmp_path / "in")
    once = fire_once(tmp_path, monkeypatch)
    summary = curate(tmp_path, "out", "llm.batch=raise", monkeypatch, llm_options(tiny_model))
    assert (once / "llm.batch").exists(), "the fault did not fire"
    assert summary.ok, summary.failed
    assert curate(tmp_path, "ref", None, monkeypatch, llm_options(tiny_model)).ok
    assert scored(tmp_path / "out") == scored(tmp_path / "ref")
    entry = ledger("the LLM stage raises on its first batch (retried)", faults=1, out=tmp_path / "out",
                   inputs={"s": ROWS})
    assert entry.rows_lost == 0 and entry.duplicates == 0


@pytest.mark.long  # make test: the encoder's shard failure here, the LLM batch failure in test_pipeline_llm
def test_an_llm_engine_that_keeps_failing_fails_the_shard_and_the_run_exits_1(tmp_path, tiny_model, ledger):
    pytest.importorskip("vllm")
    write_shard(tmp_path / "in")
    sets = [a for o in [*FAST, *llm_options(tiny_model)] for a in ("--set", o)]
    run = subprocess.run([sys.executable, "-m", "curation.cli", "curate", "--shards", str(tmp_path / "in"),
                          "--out", str(tmp_path / "out"), "--no-progress", *sets], capture_output=True, text=True,
                         timeout=800, cwd=ROOT, env={**os.environ, "SAFECURATE_FAULTS": "llm.batch=raise@*"})
    assert run.returncode == 1, run.stderr[-2000:]
    assert "stage llm" in run.stderr
    record = json.loads((tmp_path / "out" / "_failed" / "s.json").read_text())
    assert record["stage"] == "llm" and "InjectedFault" in record["reason"]
    assert not (tmp_path / "out" / "_manifest" / "s.json").exists()
    ledger("the LLM engine raises on every batch: shard failed, exit 1", faults=3)
