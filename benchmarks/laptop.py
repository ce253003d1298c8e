"""The laptop run end to end: `safecurate curate` on the bundled sample, every default stage on, as a new user
starts it (a fresh output folder, so the engine starts and every row is generated).

Prints and records the wall time, the seconds each stage spent (summed over the shard cards: actor time, which
overlaps between stages), rows routed and written per generated kind, and what the console showed (lines, and any
from Ray or vLLM internals).

    python -m benchmarks.laptop [--shards 'sample/*.parquet'] [--json benchmarks/results/laptop.json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import table, write_json

ROOT = Path(__file__).parents[1]
INTERNALS = re.compile(r"core_worker|WARNING|Traceback")
"""Console lines that would come from Ray, vLLM or a crash rather than from the run itself."""


def console_lines(text: str) -> list[str]:
    """What a terminal would show: progress-bar redraws (carriage returns) collapsed to their last state."""
    return [line.split("\r")[-1] for line in text.splitlines() if line.split("\r")[-1].strip()]


def stage_figures(reports: Path) -> tuple[dict, dict]:
    """(seconds per stage, {kind: routed/written}) summed over the shard cards of a run."""
    seconds: dict[str, float] = {}
    generated: dict[str, dict] = {}
    for card_path in sorted(reports.glob("*.json")):
        card = json.loads(card_path.read_text())
        for stage, value in card.get("seconds", {}).items():
            seconds[stage] = round(seconds.get(stage, 0.0) + (value or 0.0), 1)
        for kind, figures in (card.get("generation") or {}).items():
            if isinstance(figures, dict) and "routed" in figures:
                total = generated.setdefault(kind, {"routed": 0, "written": 0, "tokens": 0})
                for name in total:
                    total[name] += figures.get(name) or 0
    return seconds, generated


def commit_times(manifests: Path, started_at: float) -> dict[str, float]:
    """Seconds from the start of the run to each shard's commit (a shard is usable from then on)."""
    from datetime import datetime

    return {path.stem: round(datetime.fromisoformat(json.loads(path.read_text())["committed_at"].replace("Z", "+00:00"))
                             .timestamp() - started_at, 1) for path in sorted(manifests.glob("*.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", default=str(ROOT / "sample" / "*.parquet"))
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "laptop.json"))
    args = parser.parse_args()
    command = [str(Path(sys.executable).with_name("safecurate")), "curate", "--shards", args.shards]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        started, started_at = time.perf_counter(), time.time()
        done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        lines = console_lines(done.stdout + done.stderr)
        seconds, generated = stage_figures(out / "reports")
        commits = commit_times(out / "_manifest", started_at)
    internals = [line for line in lines if INTERNALS.search(line)]
    print(table(["figure", "value"], [["exit code", done.returncode], ["wall seconds", round(wall, 1)],
                                      ["console lines", len(lines)], ["lines from internals", len(internals)],
                                      *[[f"{stage} seconds (actor time)", value] for stage, value in seconds.items()],
                                      *[[f"{stem} committed after s", value] for stem, value in commits.items()]]))
    print(table(["kind", "routed", "written", "tokens"],
                [[kind, f["routed"], f["written"], f["tokens"]] for kind, f in generated.items()]))
    write_json(args.json, {"benchmark": "laptop", "command": " ".join(command) + " --out TMP",
                           "exit_code": done.returncode, "wall_seconds": round(wall, 1),
                           "console_lines": len(lines), "internal_lines": internals, "console": lines[-40:],
                           "stage_seconds": seconds, "generation": generated, "committed_after_s": commits})
    if done.returncode != 0:
        sys.exit(f"curate exited {done.returncode}")


if __name__ == "__main__":
    main()
