"""Ray for a run: attach to a cluster or start a local one, quiet Ray Data, put a stage on an actor pool, and
record where Ray placed each stage actor (node, GPU ids)."""

from __future__ import annotations

import logging
import math
import os

from curation import faults
from curation.config import Config, StageResources


def start_ray(cfg: Config) -> bool:
    """Attach to cfg.ray.address or start a local Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from curation.run.console import QUIET

    quiet = {"log_to_driver": not QUIET["value"], "logging_level": logging.WARNING}
    if cfg.ray.address:
        ray.init(address=cfg.ray.address, **quiet)
    else:
        ray.init(num_cpus=cfg.ray.num_cpus or (os.cpu_count() or 1) + 2, include_dashboard=False,
                 object_store_memory=int(cfg.ray.object_store_gib * 2**30), **quiet)
    logging.getLogger("curation.ray").info("Ray worker logs (model output of the actors): %s", _session_dir())
    return True


def _session_dir() -> str:
    """Where Ray keeps this session's worker logs (the actors' model output when the console is quiet)."""
    import ray

    try:
        return ray._private.worker._global_node.get_session_dir_path() + "/logs"
    except AttributeError:
        return "the Ray session folder (/tmp/ray/session_latest/logs)"


def configure_data_context(cfg: Config) -> None:
    """One progress bar for the run (drawn by the driver), no Ray Data banners, the stall timeout."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.execution_no_progress_timeout_s = cfg.ray.no_progress_timeout_s
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _pool(res: StageResources, one_call: bool = False):
    """The actor pool of a stage; `one_call`: an actor runs one task at a time instead of interleaving the batches of
    the tasks in flight on it. (On the bundled sample the shards still commit together at the end: Ray Data hands
    the generate actor the whole stream in one task; see benchmarks/results/laptop.json, committed_after_s.)"""
    import ray

    calls = {"max_concurrent_calls_per_actor": 1} if one_call else {}
    if isinstance(res.actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=res.actors[0], max_size=res.actors[1], **calls)
    return ray.data.ActorPoolStrategy(size=res.actors, **calls)


def _threads(res: StageResources, local: bool) -> int:
    """The threads of one actor: `res.threads`; 0 = every core on a local Ray; empty = the reservation."""
    if res.threads == 0 and local:
        return os.cpu_count() or 1
    return res.threads or max(1, math.ceil(res.num_cpus))


def actor_stage(ds, stage: type, res: StageResources, cfg_json: dict, placements=None, one_call: bool = False,
                **kwargs):
    """`ds` through a pool of `stage` actors; with `placements` (a Placements actor) each actor reports where it
    runs on start. The thread count is also put in the actor's environment:
    OpenMP gives every thread the environment's count, not the one torch set in the constructor's
    thread, and vLLM's CPU attention fails when the thread that builds its metadata and the one that
    runs the kernel disagree (Ray sets OMP_NUM_THREADS=1 for actors with fractional CPUs)."""
    threads = _threads(res, local=cfg_json.get("ray", {}).get("address") is None)
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} | faults.environment()
    if placements is not None:
        stage, kwargs = placed(stage), {**kwargs, "placements": placements}
    return ds.map_batches(stage, batch_size=res.batch_size, batch_format="pyarrow",
                          fn_constructor_kwargs={"cfg": cfg_json, "threads": threads, **kwargs},
                          compute=_pool(res, one_call), num_cpus=res.num_cpus, num_gpus=res.num_gpus,
                          runtime_env={"env_vars": env})


class Placements:
    """Where Ray put the stage actors of a run: each actor sends its placement as it starts, before its models
    load (so a run that fails on a missing GPU still says where it ran); the driver reads them at the end."""

    def __init__(self):
        self.records: list[dict] = []

    def add(self, record: dict) -> None:
        self.records.append(record)

    def all(self) -> list[dict]:
        return self.records


def start_placements():
    """A Placements actor for this run (no CPU reserved)."""
    import ray

    return ray.remote(Placements).options(num_cpus=0).remote()


def placement(stage: str) -> dict:
    """Where this actor runs: its stage, node, process, the GPU ids Ray gave it and the CUDA devices it sees."""
    import ray
    import torch

    return {"stage": stage, "node_id": ray.get_runtime_context().get_node_id(), "ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(), "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
            "cuda_devices": torch.cuda.device_count()}


def placed(stage: type) -> type:
    """`stage` as Ray Data builds its actors: the same stage, which first sends `placement` to `placements`."""

    class Placed(stage):
        def __init__(self, *args, placements, **kwargs):
            import ray

            try:
                ray.get(placements.add.remote(placement(stage.name)), timeout=60)
            except Exception:  # noqa: BLE001 - a record is not worth failing the stage for
                logging.getLogger("curation.ray").exception("stage %s: could not record its placement", stage.name)
            super().__init__(*args, **kwargs)

    Placed.__name__ = Placed.__qualname__ = stage.__name__  # Ray Data names the operator and actor processes by it
    return Placed


def describe_placement(record: dict) -> str:
    """One line of the run log for one actor."""
    ids = ", ".join(record["gpu_ids"]) or "none"
    return (f"stage {record['stage']} actor (pid {record['pid']}) on node {record['node_id'][:8]} ({record['ip']}): "
            f"GPU ids [{ids}], {record['cuda_devices']} CUDA device(s) visible")


def placement_problems(records: list[dict]) -> list[str]:
    """A line per stage whose actors' GPUs and reservations disagree: GPU ids without a CUDA device (its models run
    on CPU), or a CUDA device without GPU ids (Ray hides no GPU from an actor that reserves none, so its models
    may use a GPU nobody reserved)."""
    problems = {}
    for r in records:
        if r["gpu_ids"] and not r["cuda_devices"]:
            problems[r["stage"]] = (f"stage {r['stage']}: reserves GPUs but its actor sees no CUDA device, so its "
                                    "models run on CPU")
        elif not r["gpu_ids"] and r["cuda_devices"]:
            problems[r["stage"]] = (f"stage {r['stage']}: reserves no GPU but its actor sees {r['cuda_devices']} "
                                    f"CUDA device(s), which its models may use unreserved: set "
                                    f"resources.{r['stage']}.num_gpus")
    return list(problems.values())
