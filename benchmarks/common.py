"""What every benchmark records with its figures: the machine, the package versions, and a way to print tables
and write the JSON."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path


def results_path(name: str, model: str | None = None) -> Path:
    """Where a benchmark's JSON goes by default: benchmarks/results/<name>.json, <name>_<model>.json for an encoder
    other than the packaged default (scoring.embed.model)."""
    return Path("benchmarks/results") / f"{name}{'_' + model if model else ''}.json"


def machine() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        import torch

        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return info


def versions() -> dict:
    found = {"safecurate": None, "python": platform.python_version()}
    try:
        from curation import __version__

        found["safecurate"] = __version__
    except ImportError:
        pass
    providers = metadata.packages_distributions()
    for package in ("vllm", "torch", "ray", "pyarrow", "transformers", "sentence_transformers"):
        for dist in providers.get(package, []):
            found[package] = f"{metadata.version(dist)} ({dist})" if dist != package else metadata.version(dist)
            break
    return found


def table(headers: list[str], rows: list[list]) -> str:
    """Rows as aligned text: the first column left, the others right."""
    cells = [[str(c) for c in headers]] + [[f"{c:,.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: str | Path, report: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), "versions": versions(), **report}, indent=2) + "\n")
    print(f"wrote {path}")
