"""The GPU profile on a simulated GPU cluster: two Ray nodes on this machine with logical GPUs, CPU engines standing
in for CUDA (`make test-gpu-sim`; no GPU needed).

Ray schedules logical GPUs (`Cluster.add_node(num_gpus=...)`; nothing checks the hardware) as it schedules real ones
and hands each actor that reserves some their ids (`ray.get_gpu_ids()`), so cluster/gpu.yaml's actor pools, GPU
reservations and config path run as on GPU nodes. Stand-ins for CUDA: the encoder is forced onto the CPU
(`scoring.embed.device=cpu`: its default `auto` takes CUDA only where the process sees a CUDA device) and the
scorer's and generators' vLLM engines are the CPU build of vLLM in float32 on a tiny random-weight model. This proves
scheduling, packing and the config path, not CUDA: `make test-gpu` runs the GPU tests on a machine with one.
"""

import contextlib
import shutil
import socket
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.run.driver import run_curation
from curation.run.ray_setup import placement_problems
from tests.tiny_model import tiny_chat_model_dir

pytestmark = [pytest.mark.gpu_sim, pytest.mark.timeout(600)]

PROFILE = Path(__file__).parents[2] / "cluster" / "gpu.yaml"
NODES = [(2, 1), (2, 2)]
"""(CPUs, logical GPUs) of the head and the worker: room for the profile's pools at one actor each (an encoder on a
quarter of a GPU, a scorer engine and a generator engine on a whole GPU each) and the read tasks."""
TEXTS = ["Preheat the oven and butter a loaf tin, then bake the banana bread for an hour.",
         "I know where you live and I will come to your house tonight and hurt your whole family.",
         "Our cycling club meets every Sunday morning at the park gate for a relaxed ride.",
         "Those people are vermin and should be wiped out, every last one of them."]
GPU_STAGES = ("embed", "llm", "generate")


def scaled_profile(model: Path) -> list[str]:
    """cluster/gpu.yaml scaled to the simulated nodes, its GPU reservations kept (embed 0.25, llm 1, generate 1):
    one actor per pool on one CPU, small batches, and the CPU stand-ins for CUDA."""
    return [f"scoring.llm.model={model}", "scoring.llm.dtype=float32", "scoring.llm.max_model_len=1024",
            "scoring.llm.kv_cache_gib=0.25", "scoring.embed.device=cpu",
            "generation.max_tokens=48", "generation.gates.retries=0", "generation.gates.candidates=1",
            *(f"resources.{stage}.{key}={value}" for stage in GPU_STAGES
              for key, value in (("actors", 1), ("num_cpus", 1), ("batch_size", 8))),
            "resources.read_rows_per_task=8", "report.ngrams=false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def simulated_gpu_cluster(nodes: list[tuple[int, int]]):
    """A head and worker nodes with (CPUs, logical GPUs) each, on this machine's address (Ray rewrites a driver's
    127.0.0.1 to it), started by `ray.cluster_utils.Cluster`; yields the head's address. Ray's files live in a
    private temporary folder for the cluster's life: Cluster writes its address where `ray.init()` looks for a
    cluster to join, which would pull every other local Ray run on this machine into this one."""
    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="gpusim-", dir="/tmp")  # short: Ray's socket paths have a length limit
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", temp)
        cluster = Cluster()
        try:
            for i, (cpus, gpus) in enumerate(nodes):
                head = {"include_dashboard": False} if i == 0 else {}
                cluster.add_node(num_cpus=cpus, num_gpus=gpus, dashboard_agent_listen_port=free_port(), **head)
            cluster.wait_for_nodes()
            yield cluster.address
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


def scored(out: Path, stems: list[str]) -> dict:
    return {stem: sorted((r["id"], r["safety_score"], r["route"])
                         for r in pq.read_table(out / "scored" / f"{stem}.parquet").to_pylist()) for stem in stems}


def test_the_gpu_profile_runs_on_two_simulated_gpu_nodes_as_a_local_cpu_run_does(write_shard, tmp_path):
    import ray

    pytest.importorskip("vllm")
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("the CPU build of vLLM stands in for CUDA here; on a GPU machine run make test-gpu")
    if ray.is_initialized():
        ray.shutdown()  # the runs below start or join their own Ray
    stems = ["a", "b"]
    for name in stems:
        write_shard(name, {"id": [f"{name}{i}" for i in range(8)],
                           "text": [f"{TEXTS[i % 4]} ({name} {i})" for i in range(8)]})
    shards, options = str(tmp_path / "in" / "*.parquet"), scaled_profile(tiny_chat_model_dir(tmp_path / "tiny"))

    cpu_only = [*options, "ray.address=null", *(f"resources.{stage}.num_gpus=0" for stage in GPU_STAGES)]
    local = run_curation(shards, str(tmp_path / "local"), load_config(PROFILE, cpu_only), progress=False)
    assert local.ok, local.failed
    with simulated_gpu_cluster(NODES) as address:
        cfg = load_config(PROFILE, [*options, f"ray.address={address}"])
        assert (cfg.resources.embed.num_gpus, cfg.resources.llm.num_gpus, cfg.resources.generate.num_gpus) == (
            0.25, 1, 1)
        remote = run_curation(shards, str(tmp_path / "remote"), cfg, progress=False)
    assert remote.ok, remote.failed

    assert scored(tmp_path / "remote", stems) == scored(tmp_path / "local", stems)
    assert {r["stage"] for r in remote.actors} == {r["stage"] for r in local.actors} == set(GPU_STAGES)
    assert all(r["gpu_ids"] for r in remote.actors), remote.actors  # every GPU-reserving actor got GPU ids
    assert not any(r["gpu_ids"] for r in local.actors), local.actors  # and none without a reservation
    encoder = {(r["node_id"], gpu) for r in remote.actors if r["stage"] == "embed" for gpu in r["gpu_ids"]}
    engines = [(r["node_id"], gpu) for r in remote.actors if r["stage"] != "embed" for gpu in r["gpu_ids"]]
    assert len(set(engines)) == len(engines) and not encoder & set(engines)  # a GPU each, none beside the encoder
    assert len({r["node_id"] for r in remote.actors}) == 2  # 2.25 GPUs of pools cannot fit on either node alone
    problems = placement_problems(remote.actors)  # the run log says the GPU stages' models ran on the stand-ins
    assert len(problems) == 3 and all("sees no CUDA device" in line for line in problems)
