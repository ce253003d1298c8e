"""A curation job submitted through Ray's Jobs API to a real two-node Ray cluster on this machine."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cluster import submit as jobs
from curation.config import load_config
from curation.run.driver import run_curation

pytestmark = pytest.mark.timeout(900)
RAY = str(Path(sys.executable).with_name("ray"))
OPTIONS = ["scoring.llm.enabled=false", "generation.enabled=false", "report.ngrams=false",
           "resources.read_rows_per_task=8", "resources.embed.batch_size=16"]
TEXTS = ["Preheat the oven and butter a loaf tin, then bake the banana bread for an hour.",
         "I know where you live and I will come to your house tonight and hurt your whole family.",
         "Our cycling club meets every Sunday morning at the park gate for a relaxed ride.",
         "Those people are vermin and should be wiped out, every last one of them."]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never the same one twice in this session (the OS may hand a just-closed
    ephemeral port out again, and two Ray ports on one number fail the node's start)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def kill(marker: str) -> None:
    """Kill the processes whose environment holds `marker` (KEY=value): only this cluster's, or one node's
    (`ray stop` would kill every Ray on the machine; Ray renames its processes, so command lines cannot tell)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"\0{marker}\0" in f"\0{environ}":
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def cluster():
    """A head (no CPUs: it runs the job drivers and the Jobs API) and two worker nodes w0, w1 (2 CPUs each),
    started with `ray start` on 127.0.0.1."""
    temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "SAFECURATE_TEST_CLUSTER": temp_dir,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # the nodes' `python` has the project

    def node_ports():  # two nodes on one host: each its own agent ports, and none of another Ray's defaults
        return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]

    def common(node):  # each node its own temp dir, as on separate machines: a job's working directory is
        # unpacked once per node, never by two nodes' agents into one folder at once
        return ["--temp-dir", f"{temp_dir}/{node}", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]

    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dashboard), "--num-cpus", "0", "--include-dashboard", "true",
                        *common("h"), *node_ports()], env=env, check=True, capture_output=True, timeout=120)
        for node in ("w0", "w1"):
            subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "2",
                            "--resources", f'{{"{node}": 1}}', *common(node), *node_ports()],
                           env={**env, "SAFECURATE_TEST_NODE": node}, check=True, capture_output=True, timeout=120)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        kill(f"SAFECURATE_TEST_CLUSTER={temp_dir}")


def why(cluster: str, job_id: str) -> str:
    """What a failed job says: the Jobs API's message (set when the job fails before its driver logs anything,
    e.g. while its working directory is set up) and the end of its logs."""
    return f"{jobs.status(cluster, job_id)['message']}\n{jobs.logs(cluster, job_id)[-3000:]}"


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
    assert status == "SUCCEEDED", why(cluster, job_id)
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


def test_a_resubmission_redoes_only_the_shard_that_failed(cluster, write_shard, tmp_path):
    write_shard("a", {"id": [f"a{i}" for i in range(8)], "text": [f"{TEXTS[i % 4]} ({i})" for i in range(8)]})
    (tmp_path / "in" / "junk.parquet").write_bytes(b"not a parquet file")
    shards, out = str(tmp_path / "in" / "*.parquet"), tmp_path / "remote"
    first = jobs.submit(cluster, jobs.curate_entrypoint(shards, str(out), overrides=OPTIONS))
    assert jobs.wait(cluster, first, timeout=600) == "FAILED"  # a shard failed: the job says so
    record = json.loads((out / "_failed" / "junk.json").read_text())
    assert "not a readable Parquet file" in record["reason"] and record["failed_runs"] == 1
    committed = (out / "_manifest" / "a.json").read_bytes()

    write_shard("junk", {"id": ["j0", "j1"], "text": TEXTS[:2]})  # the user mends the shard and resubmits
    second = jobs.submit(cluster, jobs.curate_entrypoint(shards, str(out), overrides=OPTIONS))
    assert jobs.wait(cluster, second, timeout=600) == "SUCCEEDED", why(cluster, second)
    logs = jobs.logs(cluster, second)
    assert "skipping 1 committed shard(s)" in logs and "committed junk" in logs and "committed a:" not in logs
    assert (out / "_manifest" / "a.json").read_bytes() == committed
    assert pq.read_table(out / "scored" / "junk.parquet").num_rows == 2
    assert not (out / "_failed" / "junk.json").exists()


def node_running_an_actor(address: str, timeout: float = 300) -> str:
    """The worker node (w0 or w1) that hosts a pipeline actor, once one is placed: alive, or still loading its
    model (on a quiet machine a small job's actors are alive for about a second, too short to be seen)."""
    from ray.util.state import list_actors, list_nodes

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        actors = [a for a in list_actors(address=address, limit=1000)
                  if "MapWorker" in (a.class_name or "") and a.node_id
                  and a.state in ("ALIVE", "PENDING_CREATION")]
        if actors:
            nodes = {n.node_id: n for n in list_nodes(address=address, limit=100)}
            resources = nodes[actors[0].node_id].resources_total
            return next(name for name in ("w0", "w1") if name in resources)
        time.sleep(0.5)
    raise TimeoutError("no pipeline actor came up")


def test_a_worker_node_killed_during_the_run_does_not_lose_a_shard(cluster, write_shard, tmp_path):
    for name in ("a", "b"):
        write_shard(name, {"id": [f"{name}{i}" for i in range(12)],
                           "text": [f"{TEXTS[i % 4]} ({name} {i})" for i in range(12)]})
    shards = str(tmp_path / "in" / "*.parquet")
    job_id = jobs.submit(cluster, jobs.curate_entrypoint(shards, str(tmp_path / "remote"), overrides=OPTIONS))
    victim = node_running_an_actor(cluster)
    kill(f"SAFECURATE_TEST_NODE={victim}")  # its raylet, workers and actors die at once
    status = jobs.wait(cluster, job_id, timeout=600)
    assert status == "SUCCEEDED", why(cluster, job_id)
    for stem in ("a", "b"):
        rows = pq.read_table(tmp_path / "remote" / "scored" / f"{stem}.parquet").to_pylist()
        assert sorted(r["id"] for r in rows) == sorted(f"{stem}{i}" for i in range(12))
        assert (tmp_path / "remote" / "_manifest" / f"{stem}.json").is_file()
