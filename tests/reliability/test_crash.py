"""Crash consistency: the whole run (driver and local Ray) is SIGKILLed at a fault point, then run again. Every
shard commits, each input row is in scored/ or rejects/ exactly once, no temporary file is left, and the outputs
equal those of a run that was never interrupted."""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.faults import kill_session
from curation.run.driver import run_curation

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).parents[2]
OPTIONS = ["scoring.llm.enabled=false", "generation.enabled=false", "report.ngrams=false",
           "resources.read_rows_per_task=6", "resources.embed.batch_size=8"]
TEXTS = ["Fold the dough twice and let it rest in a warm place for an hour before baking.",
         "I will find you after school and break your arms, and nobody will help you.",
         "The council voted to keep the swimming pool open until nine on summer evenings.",
         "Those people are animals and deserve to be driven out of this country by force.",
         "", None]
SHARDS = {f"s{k}": 14 + 3 * k for k in range(3)}  # stem -> rows (with empty and null texts)
# (fault point, how many hits before it fires): every stage of the run, and both halves of a commit
KILL_POINTS = {"read.task": (1, 6), "embed.batch": (1, 5), "driver.batch": (1, 5),
               "commit.outputs_written": (1, 3), "commit.manifest_temp": (1, 3)}
FAST_POINTS = ("commit.manifest_temp",)  # make test; make test-reliability runs every point


def write_shards(folder: Path, shards: dict[str, int] = SHARDS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, rows in shards.items():
        pq.write_table(pa.table({"id": [f"{stem}-{i}" for i in range(rows)],
                                 "text": [TEXTS[i % len(TEXTS)] and f"{TEXTS[i % len(TEXTS)]} ({stem} {i})"
                                          for i in range(rows)]}), folder / f"{stem}.parquet")


def curate_command(shards: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "curation.cli", "curate", "--shards", str(shards / "*.parquet"), "--out", str(out),
            "--no-progress", *(a for o in OPTIONS for a in ("--set", o))]


def curate_env(faults: str | None = None, once: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECURATE_FAULTS")}
    if faults:
        env.update(SAFECURATE_FAULTS=faults, SAFECURATE_FAULTS_ONCE=str(once))
    return env


def curate(shards: Path, out: Path, faults: str | None = None, once: Path | None = None):
    return subprocess.run(curate_command(shards, out), env=curate_env(faults, once), capture_output=True, text=True,
                          timeout=600, cwd=ROOT, start_new_session=True)


def comparable(out: Path) -> dict:
    """Every output of a folder, without what differs between two runs (timings, dates, paths of temp dirs)."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if not path.is_file() or rel.startswith(("_failed", "_logs")) or path.suffix in (".md", ".html"):
            continue
        if path.suffix == ".parquet":
            found[rel] = pq.read_table(path).to_pylist()
        else:
            data = json.loads(path.read_text())
            for key in ("seconds", "committed_at", "input", "generation_reused"):
                data.pop(key, None)
            found[rel] = data
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_local):
    """The outputs of a run that was never interrupted."""
    root = tmp_path_factory.mktemp("reference")
    write_shards(root / "in")
    summary = run_curation(str(root / "in" / "*.parquet"), str(root / "out"), load_config(None, OPTIONS),
                           progress=False)
    assert summary.ok
    return comparable(root / "out")


def crash_and_rerun(point: str, nth: int, tmp_path: Path, reference: dict, ledger) -> None:
    write_shards(tmp_path / "in")
    out = tmp_path / "out"
    (tmp_path / "once").mkdir()
    crashed = curate(tmp_path / "in", out, f"{point}=crash@{nth}", tmp_path / "once")
    assert crashed.returncode == -9, f"the run was not killed at {point}@{nth}: {crashed.stderr[-2000:]}"
    committed = len(list((out / "_manifest").glob("*.json"))) if (out / "_manifest").exists() else 0
    assert committed < len(SHARDS)
    done = curate(tmp_path / "in", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{committed} skipped" in done.stdout
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name], "a temporary file was left behind"
    assert not (out / "_checkpoints").exists()
    assert comparable(out) == reference
    entry = ledger(f"SIGKILL driver + Ray at {point} (hit {nth}), re-run", faults=1, out=out, inputs=SHARDS)
    assert entry.rows_lost == 0 and entry.duplicates == 0


@pytest.mark.parametrize("point", FAST_POINTS)
def test_a_run_killed_at_a_fault_point_resumes_to_the_same_outputs(point, tmp_path, reference, ledger):
    rng = random.Random(f"{point}-fast")
    crash_and_rerun(point, rng.randint(*KILL_POINTS[point]), tmp_path, reference, ledger)


@pytest.mark.long
@pytest.mark.parametrize("seed", range(8))
def test_runs_killed_at_random_points_resume_to_the_same_outputs(seed, tmp_path, reference, ledger):
    rng = random.Random(seed)
    point = rng.choice(sorted(KILL_POINTS))
    crash_and_rerun(point, rng.randint(*KILL_POINTS[point]), tmp_path, reference, ledger)


@pytest.mark.long
def test_a_run_killed_from_outside_as_its_first_shard_commits_resumes_without_loss_or_duplicates(tmp_path, ledger):
    """No fault point: the driver's whole process group (its local Ray and workers too) is killed from outside as
    soon as the first of four 150-row shards commits, while the others are half done."""
    shards = {f"big{k}": 150 for k in range(4)}
    write_shards(tmp_path / "in", shards)
    out = tmp_path / "out"
    proc = subprocess.Popen(curate_command(tmp_path / "in", out), env=curate_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not list((out / "_manifest").glob("*.json")):
        time.sleep(0.2)
    kill_session(proc.pid)
    proc.wait()
    committed = len(list((out / "_manifest").glob("*.json")))
    assert committed < len(shards), "the run finished before it could be killed"
    done = curate(tmp_path / "in", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{committed} skipped" in done.stdout
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name], "a temporary file was left behind"
    entry = ledger("SIGKILL of the driver's process group from outside mid-run, re-run", faults=1, out=out,
                   inputs=shards)
    assert entry.rows_lost == 0 and entry.duplicates == 0
