"""A curation job submitted through Ray's Jobs API to a real two-node Ray cluster on this machine."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cluster import submit as jobs
from curation.config import load_config
from curation.pipeline import run_curation

pytestmark = pytest.mark.timeout(900)
RAY = str(Path(sys.executable).with_name("ray"))
OPTIONS = ["scoring.llm.enabled=false", "generation.enabled=false", "report.ngrams=false",
           "resources.read_rows_per_task=8", "resources.embed.batch_size=16"]
TEXTS = ["Preheat the oven and butter a loaf tin, then bake the banana bread for an hour.",
         "I know where you live and I will come to your house tonight and hurt your whole family.",
         "Our cycling club meets every Sunday morning at the park gate for a relaxed ride.",
         "Those people are vermin and should be wiped out, every last one of them."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(marker: str) -> None:
    """Kill only this cluster's processes (`ray stop` would kill every Ray on the machine): those whose
    environment carries `marker` (Ray renames its processes, so their command lines cannot tell)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"SAFECURATE_TEST_CLUSTER={marker}" in environ:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def cluster():
    """A head (2 CPUs, the Jobs API) and one worker node (2 CPUs) started with `ray start` on 127.0.0.1."""
    temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "SAFECURATE_TEST_CLUSTER": temp_dir,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # the nodes' `python` has the project

    def node_ports():  # two nodes on one host: each its own agent ports, and none of another Ray's defaults
        return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]

    common = ["--temp-dir", temp_dir, "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dashboard), "--num-cpus", "2", "--include-dashboard", "true",
                        *common, *node_ports()], env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "2",
                        "--resources", '{"worker": 1}', *common, *node_ports()], env=env, check=True,
                       capture_output=True, timeout=120)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        stop(temp_dir)


def scored(out: Path) -> dict:
    return {stem: sorted((r["id"], r["safety_score"], r["embed_score"], r["route"])
                         for r in pq.read_table(out / "scored" / f"{stem}.parquet").to_pylist())
            for stem in ("a", "b")}


def test_a_job_submitted_to_a_two_node_cluster_commits_what_a_local_run_commits(cluster, ray_local, write_shard,
                                                                               tmp_path):
    for name in ("a", "b"):
        write_shard(name, {"id": [f"{name}{i}" for i in range(12)],
                           "text": [f"{TEXTS[i % 4]} ({name} {i})" for i in range(12)]})
    shards = str(tmp_path / "in" / "*.parquet")
    job_id = jobs.submit(cluster, jobs.curate_entrypoint(shards, str(tmp_path / "remote"), overrides=OPTIONS))
    status = jobs.wait(cluster, job_id, timeout=600)
    assert status == "SUCCEEDED", jobs.logs(cluster, job_id)[-3000:]
    assert jobs.status(cluster, job_id)["status"] == "SUCCEEDED"
    assert "committed a" in jobs.logs(cluster, job_id)

    summary = run_curation(shards, str(tmp_path / "local"), load_config(None, OPTIONS), progress=False)
    assert summary.ok
    assert scored(tmp_path / "remote") == scored(tmp_path / "local")
    for folder in ("reports", "_manifest", "reflections"):
        assert sorted(p.name for p in (tmp_path / "remote" / folder).iterdir()) == sorted(
            p.name for p in (tmp_path / "local" / folder).iterdir())


def test_a_failing_job_reports_failed(cluster, tmp_path):
    job_id = jobs.submit(cluster, jobs.curate_entrypoint(str(tmp_path / "nothing*.parquet"), str(tmp_path / "o")))
    assert jobs.wait(cluster, job_id, timeout=300) == "FAILED"
