"""Ctrl-C during generation: the run stops within seconds with exit 130 and says how to resume; the same command
then finishes from the checkpoints, and its outputs equal those of a run never interrupted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.test_crash import ROOT, comparable, write_shards

pytestmark = [pytest.mark.long, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("vllm")
    from tests.tiny_model import tiny_chat_model_dir

    return tiny_chat_model_dir(tmp_path_factory.mktemp("tiny"))


def command(shards: Path, out: Path, model: Path) -> list[str]:
    options = ["scoring.llm.enabled=false", f"generation.model={model}", "scoring.llm.max_model_len=1024",
               "scoring.llm.kv_cache_gib=0.25", "generation.max_tokens=24", "resources.generate.batch_size=2",
               "resources.generate.num_cpus=1", "report.ngrams=false", "resources.read_rows_per_task=6"]
    return [sys.executable, "-m", "curation.cli", "curate", "--shards", str(shards / "*.parquet"), "--out",
            str(out), "--no-progress", *[a for o in options for a in ("--set", o)]]


def same_run(outputs: dict) -> dict:
    """Outputs less the card's generation timings and its count of rows reused from checkpoints (which differ
    between a resumed run and an uninterrupted one by design)."""
    for rel, data in outputs.items():
        if rel.startswith("reports/") and isinstance(data, dict) and data.get("generation"):
            data["generation"].pop("reused_from_checkpoint", None)
            for stage in data["generation"].values():
                if isinstance(stage, dict):
                    for key in ("seconds", "tokens_per_second"):
                        stage.pop(key, None)
    return outputs


def test_ctrl_c_during_generation_stops_fast_and_the_rerun_resumes_to_the_same_outputs(tmp_path, tiny_model,
                                                                                       ledger):
    write_shards(tmp_path / "in")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECURATE_FAULTS")}
    run = subprocess.Popen(command(tmp_path / "in", tmp_path / "out", tiny_model), env=env, cwd=ROOT, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((tmp_path / "out").glob("_checkpoints/*/*/part-*.parquet")):  # generation is under way
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before generating anything"
        time.sleep(0.5)
    sent = time.monotonic()
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert time.monotonic() - sent < 15, "the run did not stop within 15 s"
    assert run.returncode == 130, err[-2000:]
    assert "resume with the same command" in err and "Traceback" not in err and "core_worker" not in err

    resumed = subprocess.run(command(tmp_path / "in", tmp_path / "out", tiny_model), env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    clean = subprocess.run(command(tmp_path / "in", tmp_path / "ref", tiny_model), env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert same_run(comparable(tmp_path / "out")) == same_run(comparable(tmp_path / "ref"))
    ledger("SIGINT during generation, then the same command again: outputs equal an uninterrupted run", faults=1)
