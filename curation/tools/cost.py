"""What curating a corpus would cost: measured per-worker throughput × a config profile → worker- and resource-hours.

The throughput file is the JSON `python -m benchmarks.throughput` writes; the profile says which stages run and
what each actor reserves. A stage's rate is taken as measured, on the device it was measured on: a CPU
measurement gives core-hours, never GPU-hours scaled by a guessed speed-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from curation.config import Config, RoutingConfig, StageResources
from curation.schema import GENERATION_KINDS

STAGES = {"embed": ("embed", None), "llm": ("llm", None), "safeweb": ("generate", "rephrase"),
          "refuseweb": ("generate", "refuse"), "moral_education": ("generate", "refuse")}
"""Stage → (its actor pool in `resources`, the route whose rows it sees; None: every document)."""

FINEWEB_EDU_GPU_HOURS_PER_100B = 40.0
"""The FineWeb-Edu classifier's published cost: ~6,000 H100 GPU-hours for 15T tokens, i.e. ~40 per 100B tokens."""


def load_throughput(path: str | Path) -> dict:
    """The throughput JSON as a dict; ValueError with a readable message when it is missing or not JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"throughput file {path} not found: measure it first with "
                         "`python -m benchmarks.throughput --json PATH`, or pass --throughput FILE") from None
    except OSError as exc:
        raise ValueError(f"cannot read throughput file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"throughput file {path} is not JSON: {exc}") from None
    try:
        check_throughput(data)
    except ValueError as exc:
        raise ValueError(f"throughput file {path}: {exc}") from None
    return data


def check_throughput(data: object) -> None:
    """ValueError naming the first key of a throughput dict that `plan` cannot use."""
    if not isinstance(data, dict):
        raise ValueError("must hold a JSON object")
    for key in ("corpus", "routes", "stages"):
        if not isinstance(data.get(key) or {}, dict):
            raise ValueError(f"`{key}` must be an object, got {data[key]!r}")
    _positive((data.get("corpus") or {}).get("tokens_per_document"), "corpus.tokens_per_document")
    for route, share in (data.get("routes") or {}).items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError(f"routes.{route} must be a fraction between 0 and 1, got {share!r}")
    for stage, figures in (data.get("stages") or {}).items():
        if not isinstance(figures, dict):
            raise ValueError(f"stages.{stage} must be an object, got {figures!r}")
        if figures.get("docs_per_s") is not None:
            _positive(figures["docs_per_s"], f"stages.{stage}.docs_per_s")


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _enabled(cfg: Config, stage: str) -> bool:
    if stage == "llm":
        return cfg.scoring.llm.enabled
    if stage in GENERATION_KINDS:
        return stage in cfg.generation.kinds
    return stage == "embed"


def _cost(stage: str, documents: float, figures: dict | None, res: StageResources) -> dict:
    """One stage's row: hours at the measured per-worker rate, in GPU-hours if measured on a GPU, else core-hours."""
    row = {"stage": stage, "documents": documents, "docs_per_s": None, "worker_hours": None, "resource_hours": None,
           "unit": None, "measured_device": None, "profile_device": "gpu" if res.num_gpus else "cpu"}
    if not figures or figures.get("docs_per_s") is None:
        return row
    row["docs_per_s"] = float(figures["docs_per_s"])
    row["worker_hours"] = documents / row["docs_per_s"] / 3600
    if str(figures.get("device", "cpu")).startswith("cuda"):
        share = res.num_gpus or figures.get("gpus") or 1
        row.update(measured_device="gpu", unit="GPU-hours", resource_hours=row["worker_hours"] * share)
    else:
        share = figures.get("cpus") or res.num_cpus
        row.update(measured_device="cpu", unit="core-hours", resource_hours=row["worker_hours"] * share)
    return row


def estimate(throughput: dict, cfg: Config, tokens: float) -> dict:
    """Documents, worker-hours and GPU- or core-hours per stage for `tokens` tokens under the profile `cfg`.

    A stage measured on a GPU costs worker-hours × the profile's `num_gpus` for its actor (a worker on that share
    is taken to run at the measured rate); one measured on CPU costs worker-hours × the measured CPUs per worker.
    Stages the profile turns off are left out; stages it runs but the file lacks are listed as not measured.
    """
    tokens = _positive(tokens, "tokens")
    check_throughput(throughput)
    per_doc = float(throughput["corpus"]["tokens_per_document"])
    routes, measured = throughput.get("routes") or {}, throughput.get("stages") or {}
    documents = tokens / per_doc
    rows, off, unrouted = [], [], []
    for stage, (pool, route) in STAGES.items():
        if not _enabled(cfg, stage):
            off.append(stage)
        elif route is not None and route not in routes:
            unrouted.append(stage)
        else:
            seen = documents * (routes[route] if route else 1.0)
            rows.append(_cost(stage, seen, measured.get(stage), getattr(cfg.resources, pool)))
    unmeasured = [r["stage"] for r in rows if r["unit"] is None]
    notes = [f"{', '.join(stages)}: {why}, not costed" for stages, why in (
        (off, "turned off in the profile"), (unrouted, "no route fraction in the throughput file"),
        (unmeasured, "not measured in the throughput file")) if stages]
    cpu_for_gpu = [r["stage"] for r in rows if (r["measured_device"], r["profile_device"]) == ("cpu", "gpu")]
    gpu_for_cpu = [r["stage"] for r in rows if (r["measured_device"], r["profile_device"]) == ("gpu", "cpu")]
    if cpu_for_gpu:
        notes.append(f"device differs: {', '.join(cpu_for_gpu)} measured on CPU but the profile gives them GPUs; "
                     "these figures are for the measured CPU (core-hours), with no CPU-to-GPU speed factor: "
                     "run the throughput benchmark on a GPU machine for GPU-hours")
    if gpu_for_cpu:
        notes.append(f"device differs: {', '.join(gpu_for_cpu)} measured on a GPU but the profile runs them on CPU; "
                     "these figures are GPU-hours at the measured GPUs per worker")
    if cfg.routing != RoutingConfig():
        notes.append(f"the profile routes with keep_max={cfg.routing.keep_max}, rephrase_max="
                     f"{cfg.routing.rephrase_max}; the route fractions come from the throughput file as measured")
    totals: dict[str, float] = {"worker_hours": sum(r["worker_hours"] for r in rows if r["unit"])}
    for r in rows:
        if r["unit"]:
            totals[r["unit"]] = totals.get(r["unit"], 0.0) + r["resource_hours"]
    embed = next(r for r in rows if r["stage"] == "embed")
    reference = {"source": "FineWeb-Edu classifier, ~40 H100 GPU-hours per 100B tokens",
                 "gpu_hours": FINEWEB_EDU_GPU_HOURS_PER_100B * tokens / 100e9,
                 "embed_hours": embed["resource_hours"], "embed_unit": embed["unit"],
                 "comparable": embed["unit"] == "GPU-hours"}
    return {"tokens": tokens, "tokens_per_document": per_doc, "documents": documents, "routes": routes,
            "machine": throughput.get("machine") or {}, "stages": rows, "totals": totals,
            "reference": reference, "notes": notes}


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _count(value: float) -> str:
    """A large count in short form: 600B, 3.33M, 12k."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def table(result: dict) -> str:
    """The plan's stages as aligned text: one row per stage, then a total per unit."""
    headers = ["stage", "documents", "docs/s", "worker-hours", "resource-hours", "unit"]
    rows = [[r["stage"], _count(r["documents"]), _num(r["docs_per_s"]), _num(r["worker_hours"]),
             _num(r["resource_hours"]), r["unit"] or "-"] for r in result["stages"]]
    for unit in ("GPU-hours", "core-hours"):
        if unit in result["totals"]:
            hours = sum(r["worker_hours"] for r in result["stages"] if r["unit"] == unit)
            rows.append(["total", "", "", _num(hours), _num(result["totals"][unit]), unit])
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:  # text columns (stage, unit) to the left, figures to the right
        padded = (c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def show(result: dict, say: Callable[[str], object] = print) -> None:
    """Print the plan: the stage table, the route fractions, the FineWeb-Edu reference line and the notes."""
    say(f"{_count(result['tokens'])} tokens = {_count(result['documents'])} documents of "
        f"{result['tokens_per_document']:g} tokens (docs/s: one worker's measured rate)")
    say(table(result))
    if result["routes"]:
        say("routes (from the throughput file): " + ", ".join(
            f"{route} {100 * share:.1f}%" for route, share in result["routes"].items()))
    ref = result["reference"]
    line = f"reference: {ref['source']} -> {_num(ref['gpu_hours'])} GPU-hours for these tokens"
    if ref["embed_unit"] is None:
        line += "; our embedding stage: not measured"
    else:
        line += f"; our embedding stage: {_num(ref['embed_hours'])} {ref['embed_unit']}"
        if not ref["comparable"]:
            line += " (H100 GPU-hours vs. our CPU core-hours: different units, not a like-for-like comparison)"
        elif result["machine"].get("cuda"):
            line += f" on {result['machine']['cuda']}"
    say(line)
    for note in result["notes"]:
        say(f"note: {note}")
