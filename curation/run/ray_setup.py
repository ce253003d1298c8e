"""Ray for a run: attach to a cluster or start a local one, quiet Ray Data, and put a stage on an actor pool."""

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


def _pool(res: StageResources):
    import ray

    if isinstance(res.actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=res.actors[0], max_size=res.actors[1])
    return ray.data.ActorPoolStrategy(size=res.actors)


def _threads(res: StageResources, local: bool) -> int:
    """The threads of one actor: `res.threads`; 0 = every core on a local Ray; empty = the reservation."""
    if res.threads == 0 and local:
        return os.cpu_count() or 1
    return res.threads or max(1, math.ceil(res.num_cpus))


def actor_stage(ds, stage: type, res: StageResources, cfg_json: dict, **kwargs):
    """`ds` through a pool of `stage` actors. The thread count is also put in the actor's environment:
    OpenMP gives every thread the environment's count, not the one torch set in the constructor's
    thread, and vLLM's CPU attention fails when the thread that builds its metadata and the one that
    runs the kernel disagree (Ray sets OMP_NUM_THREADS=1 for actors with fractional CPUs)."""
    threads = _threads(res, local=cfg_json["ray"]["address"] is None)
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} | faults.environment()
    return ds.map_batches(stage, batch_size=res.batch_size, batch_format="pyarrow",
                          fn_constructor_kwargs={"cfg": cfg_json, "threads": threads, **kwargs},
                          compute=_pool(res), num_cpus=res.num_cpus, num_gpus=res.num_gpus,
                          runtime_env={"env_vars": env})
