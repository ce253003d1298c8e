"""Submit a curation run to a Ray cluster as a Ray job, follow its logs, report its status.

The job's runtime environment carries this project as its working directory (virtualenvs, outputs and
caches excluded), so the cluster runs exactly the submitted code; the nodes need the project's
dependencies installed (`cluster/cluster.yaml` and `cluster/rayjob.yaml` do that). The job's driver runs
`python -m curation.cli curate ... --address auto`, which attaches to the cluster it runs on.
Shard globs and output folders are paths as the cluster sees them (a shared filesystem, or `s3://...`).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
EXCLUDES = [".git", ".venv", ".venv-*", "out", "runs", "eval", "sample", "build", "dist", "*.egg-info",
            "__pycache__", ".pytest_cache", ".ruff_cache", "benchmarks/results"]
"""Paths of the project that never travel with a job."""
FINAL = {"SUCCEEDED": 0, "FAILED": 1, "STOPPED": 1}


def client(address: str):
    """A Jobs API client for `address` (http://HEAD:8265). Local test clusters run without token auth."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def curate_entrypoint(shards: str, out: str, config: str | None = None, overrides: list[str] | None = None) -> str:
    """The job's command line: the `curate` verb attached to the job's cluster, without a progress bar."""
    words = ["python", "-m", "curation.cli", "curate", "--shards", shards, "--out", out, "--address", "auto",
             "--no-progress"]
    if config:
        words += ["--config", config]
    for item in overrides or []:
        words += ["--set", item]
    return shlex.join(words)


def submit(address: str, entrypoint: str, env: dict[str, str] | None = None, submission_id: str | None = None,
           agent_wait: float = 120.0) -> str:
    """Submit `entrypoint` with this project as the working directory; returns the job id.

    A cluster that has just started may have no job agent yet: the submission is retried for `agent_wait`
    seconds on that answer only.
    """
    runtime_env = {"working_dir": str(PROJECT), "excludes": EXCLUDES,
                   "env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                                "RAY_AUTH_MODE": "disabled", **(env or {})}}
    jobs, deadline = client(address), time.monotonic() + agent_wait
    while True:
        try:
            return jobs.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, submission_id=submission_id)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(2)


def follow(address: str, job_id: str, say=print) -> str:
    """Print the job's log lines as they come until it ends; returns its final status."""
    jobs = client(address)

    async def tail() -> None:
        async for lines in jobs.tail_job_logs(job_id):
            for line in lines.splitlines():
                say(line)

    asyncio.run(tail())
    return wait(address, job_id)


def wait(address: str, job_id: str, timeout: float | None = None, poll: float = 1.0) -> str:
    """The job's final status (SUCCEEDED, FAILED, STOPPED), waiting for it; TimeoutError after `timeout`."""
    jobs, started = client(address), time.monotonic()
    while True:
        status = str(jobs.get_job_status(job_id).value)
        if status in FINAL:
            return status
        if timeout is not None and time.monotonic() - started > timeout:
            raise TimeoutError(f"job {job_id} still {status} after {timeout:.0f} s")
        time.sleep(poll)


def status(address: str, job_id: str) -> dict:
    """The job's status, message and entrypoint, as the Jobs API reports them."""
    info = client(address).get_job_info(job_id)
    return {"job_id": job_id, "status": str(info.status.value), "message": info.message,
            "entrypoint": info.entrypoint}


def logs(address: str, job_id: str) -> str:
    """Everything the job has logged so far."""
    return client(address).get_job_logs(job_id)
