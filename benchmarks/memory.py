"""Peak memory of a curation run by process role, on one shard at growing sizes: does memory follow the shard?

Writes a shard of `--rows` short documents (scored by the encoder, each with a reflection) plus long filler
documents (rejected `too_long` at reading, but read again, row group by row group, when the shard commits) to
reach each size in `--mb`, runs `safecurate curate` on it in its own session (local Ray, LLM scorer and
generation off, so the data path dominates), and samples the resident memory of every process of that session
every 0.2 s. Roles: driver, read tasks, embedding actors, commit task, Ray itself. A role whose peak grows with
the shard holds the shard; one that stays flat streams it.

    python -m benchmarks.memory [--mb 50 200] [--rows 2000] [--json benchmarks/results/memory.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import table, write_json
from curation.faults import session_pids

ROOT = Path(__file__).parents[1]
OPTIONS = ["scoring.llm.enabled=false", "generation.enabled=false", "report.ngrams=false",
           "resources.read_rows_per_task=256"]
FILLER_CHARS = 250_000  # over input.max_chars (200,000): rejected as too_long


def role(process: psutil.Process, driver: int) -> str:
    if process.pid == driver:
        return "driver"
    try:
        title = " ".join(process.cmdline()) or process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "gone"
    for needle, name in (("commit_shard", "commit task"), ("EmbedStage", "embedding actor"),
                         ("read_stage", "read task"), ("MapBatches(read", "read task")):
        if needle in title:
            return name
    if title.startswith("ray::IDLE"):
        return "idle worker"
    return "ray (gcs, raylet, dashboard, ...)"


def write_shard(path: Path, rows: int, megabytes: int) -> int:
    """`rows` short documents and enough filler to make the shard's text about `megabytes`; row groups of 64."""
    texts = [f"Document {i}: a neighbour lends a ladder, the gutters get cleared before the storm. " * 4
             for i in range(rows)]
    filler = max(0, (megabytes * 2**20 - sum(map(len, texts))) // FILLER_CHARS)
    texts += [(f"filler {i} " + "lorem ipsum dolor sit amet " * (FILLER_CHARS // 27 + 1))[:FILLER_CHARS]
              for i in range(filler)]
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), path,
                   row_group_size=64, compression="zstd")
    return len(texts)


def measure(shard_dir: Path, out: Path) -> tuple[dict[str, float], float]:
    """Peak RSS (MiB) per role over the run, and its seconds."""
    sets = [a for o in OPTIONS for a in ("--set", o)]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "curation.cli", "curate", "--shards", str(shard_dir),
                             "--out", str(out), "--no-progress", *sets], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in session_pids(proc.pid):
                try:
                    process = psutil.Process(pid)
                    rss = process.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
                name = role(process, proc.pid)
                peaks[name] = max(peaks.get(name, 0.0), rss)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"curate failed:\n{err[-3000:]}")
    peaks.pop("gone", None)
    return peaks, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[50, 200], help="shard text sizes in MiB")
    parser.add_argument("--rows", type=int, default=2000, help="short documents scored per shard")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "memory.json"))
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="safecurate-memory-") as tmp:
        for megabytes in args.mb:
            folder = Path(tmp) / f"in-{megabytes}"
            folder.mkdir()
            rows = write_shard(folder / "big.parquet", args.rows, megabytes)
            size = (folder / "big.parquet").stat().st_size / 2**20
            peaks, seconds = measure(folder, Path(tmp) / f"out-{megabytes}")
            runs.append({"text_mib": megabytes, "file_mib": round(size, 1), "rows": rows,
                         "seconds": round(seconds, 1), "peak_rss_mib": {k: round(v) for k, v in sorted(peaks.items())}})
            print(f"{megabytes} MiB of text ({rows} rows, {size:.1f} MiB on disk): {seconds:.0f} s")
    roles = sorted({r for run in runs for r in run["peak_rss_mib"]})
    headers = ["peak RSS (MiB)", *(f"{run['text_mib']} MiB shard" for run in runs)]
    print(table(headers, [[r, *(run["peak_rss_mib"].get(r, "-") for run in runs)] for r in roles]))
    write_json(args.json, {"benchmark": "memory", "options": OPTIONS, "runs": runs})


if __name__ == "__main__":
    main()
