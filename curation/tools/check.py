"""Can a config's actor pools be placed on a cluster? `safecurate check`, and `curate`/`submit` before any work.

Each enabled stage's pool at its minimum size (an actor needs `num_cpus` CPUs and `num_gpus` GPUs: a whole
number takes whole GPUs, a fraction shares one GPU) plus one read/commit task must be packed onto the nodes;
vLLM's `tensor_parallel_size` must equal the GPUs its actor reserves; a generator whose model differs from the
scorer's starts a second engine in the same actor, and the two engines' memory shares must fit one GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curation.config import Config, StageResources


class PlacementError(ValueError):
    """A profile that cannot run on the given nodes; the message names the stage and the fix (one line)."""


@dataclass
class Node:
    cpus: float
    gpus: list[float] = field(default_factory=list)
    """The free share of each GPU."""

    @classmethod
    def parse(cls, spec: str) -> Node:
        """`cpus=8,gpus=1` -> a node with 8 CPUs and 1 GPU."""
        try:
            values = {k.strip(): float(v) for k, v in (part.split("=") for part in spec.split(","))}
            return cls(values["cpus"], [1.0] * int(values.get("gpus", 0)))
        except (KeyError, ValueError) as exc:
            raise PlacementError(f"bad --node {spec!r}: write it as cpus=N,gpus=M") from exc

    def take(self, cpus: float, gpus: float) -> bool:
        """Reserve an actor here if it fits; True when it did."""
        if cpus > self.cpus + 1e-9:
            return False
        if gpus >= 1:
            free = [i for i, share in enumerate(self.gpus) if share >= 1 - 1e-9]
            if len(free) < gpus:
                return False
            for i in free[:int(gpus)]:
                self.gpus[i] = 0.0
        elif gpus > 0:
            fits = [i for i, share in enumerate(self.gpus) if share >= gpus - 1e-9]
            if not fits:
                return False
            self.gpus[min(fits, key=lambda i: self.gpus[i])] -= gpus  # the fullest GPU that fits
        self.cpus -= cpus
        return True


def pools(cfg: Config) -> dict[str, tuple[StageResources, int]]:
    """Each enabled actor stage: (its resources, its pool's minimum size)."""
    res = cfg.resources
    stages = {"embed": res.embed}
    if cfg.scoring.llm.enabled:
        stages["llm"] = res.llm
    if cfg.generation.enabled:
        stages["generate"] = res.generate
    return {name: (r, r.actors[0] if isinstance(r.actors, tuple) else r.actors) for name, r in stages.items()}


def check_engines(cfg: Config) -> None:
    """vLLM settings that no placement can make work."""
    llm, stages = cfg.scoring.llm, pools(cfg)
    for name in ("llm", "generate"):
        if name in stages and stages[name][0].num_gpus >= 1 and stages[name][0].num_gpus != llm.tensor_parallel_size:
            raise PlacementError(
                f"stage {name}: scoring.llm.tensor_parallel_size={llm.tensor_parallel_size} but each {name} actor "
                f"reserves {stages[name][0].num_gpus:g} GPU(s): set resources.{name}.num_gpus="
                f"{llm.tensor_parallel_size} or tensor_parallel_size={stages[name][0].num_gpus:g}")
    two = "generate" in stages and llm.enabled and cfg.generation.model and cfg.generation.model != llm.model
    if two and stages["generate"][0].num_gpus > 0 and 2 * llm.gpu_memory_utilization > 1:
        raise PlacementError(
            f"stage generate: generation.model differs from scoring.llm.model, so each generate actor starts two "
            f"vLLM engines at gpu_memory_utilization={llm.gpu_memory_utilization} each, more than one GPU: use one "
            "model for both, or gpu_memory_utilization <= 0.45")


def check_placement(cfg: Config, nodes: list[Node]) -> str:
    """A one-line summary when the minimum pools and a read task fit on `nodes`; PlacementError otherwise."""
    if not nodes:
        raise PlacementError("no nodes to place the stages on")
    check_engines(cfg)
    wanted = [(name, r) for name, (r, count) in pools(cfg).items() for _ in range(count)]
    for name, r in wanted:
        if not any(Node(n.cpus, [1.0] * len(n.gpus)).take(r.num_cpus, r.num_gpus) for n in nodes):
            raise PlacementError(f"stage {name}: one actor needs {r.num_cpus:g} CPUs and {r.num_gpus:g} GPUs, more "
                                 f"than any node has: lower resources.{name}.num_cpus / num_gpus")
    free = [Node(n.cpus, list(n.gpus)) for n in nodes]
    for name, r in sorted(wanted, key=lambda item: (-item[1].num_gpus, -item[1].num_cpus)):
        if not any(node.take(r.num_cpus, r.num_gpus) for node in free):
            raise PlacementError(f"stage {name}: the minimum actor pools do not fit together on these nodes "
                                 f"(needs {sum(x.num_gpus for _, x in wanted):g} GPUs, "
                                 f"{sum(x.num_cpus for _, x in wanted):g} CPUs): lower the pools' minimum "
                                 "`actors` or their num_gpus, or add nodes")
    if not any(node.take(cfg.resources.read_num_cpus, 0) for node in free):
        raise PlacementError(f"read and commit tasks: no CPU left beside the actor pools "
                             f"(they need resources.read_num_cpus={cfg.resources.read_num_cpus:g})")
    return (f"ok: {len(wanted)} actors ({', '.join(f'{n} x{c}' for n, (_, c) in pools(cfg).items())}) and the "
            f"read/commit tasks fit on {len(nodes)} node(s)")


def live_nodes() -> list[Node]:
    """The alive nodes of the Ray cluster this process is attached to."""
    import ray

    return [Node(n["Resources"].get("CPU", 0.0), [1.0] * int(n["Resources"].get("GPU", 0)))
            for n in ray.nodes() if n.get("Alive")]
