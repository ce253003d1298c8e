"""Scorer quality on labeled held-out text: AUROC, precision and recall of safety_score per ensemble rule.

Runs the real pipeline (local Ray, packaged models) on the labeled rows written as one shard, then
scores the binary label (`harmful`, or `score >= 2` when a file has only scores) against
  embed      the embedding classifier alone (the default with the LLM off),
  max        max(llm_score, embed_score), the paper's ensemble,
  confident  the LLM score counted only where its probability >= scoring.llm.min_confidence.
Prints a table and writes JSON with the machine, versions and config.

    python -m benchmarks.quality [--data FILE.jsonl] [--llm] [--json benchmarks/results/quality.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import load_config
from curation.pipeline import run_curation

DEFAULT_DATA = Path(__file__).parent / "data" / "heldout_eval.jsonl"


def metrics(label: np.ndarray, score: np.ndarray, threshold: int) -> dict:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    flagged = score >= threshold
    return {
        "auroc": round(float(roc_auc_score(label, score)), 4),
        f"recall@>={threshold}": round(float(recall_score(label, flagged)), 4),
        f"precision@>={threshold}": round(float(precision_score(label, flagged, zero_division=0)), 4),
        "flagged": int(flagged.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSON lines with text and harmful/score")
    parser.add_argument("--llm", action="store_true", help="also run the LLM rubric scorer")
    parser.add_argument("--threshold", type=int, default=2, help="flag safety_score >= threshold")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/quality.json"))
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    label = np.array([r["harmful"] if "harmful" in r else r["score"] >= 2 for r in rows], dtype=bool)
    cfg = load_config(None, [f"scoring.llm.enabled={str(args.llm).lower()}", "generation.enabled=false",
                             "reflections.enabled=false", *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "in" / "heldout.parquet"
        shard.parent.mkdir()
        pq.write_table(pa.table({"id": [str(i) for i in range(len(rows))], "text": [r["text"] for r in rows]}), shard)
        started = time.time()
        summary = run_curation(str(shard), str(Path(tmp) / "out"), cfg, progress=False)
        seconds = time.time() - started
        if not summary.ok:
            raise SystemExit(f"curation failed: {summary.failed}")
        scored = pq.read_table(Path(tmp) / "out" / "scored" / "heldout.parquet").sort_by(
            [("id", "ascending")]).to_pylist()
    scored.sort(key=lambda r: int(r["id"]))
    embed = np.array([r["embed_score"] for r in scored])
    results = {"embed": metrics(label, embed, args.threshold)}
    if args.llm:
        llm = np.array([-1 if r["llm_score"] is None else r["llm_score"] for r in scored])
        sure = np.array([(r["llm_confidence"] or 0.0) >= cfg.scoring.llm.min_confidence for r in scored])
        results["llm_alone"] = metrics(label, np.maximum(llm, 0), args.threshold)
        results["max"] = metrics(label, np.maximum(embed, llm), args.threshold)
        results["confident"] = metrics(label, np.where(sure, np.maximum(embed, llm), embed), args.threshold)
        results["llm_invalid"] = int((llm < 0).sum())

    print(f"{len(rows)} rows ({int(label.sum())} harmful) from {args.data}, pipeline {seconds:.1f}s")
    print(f"{'rule':<10} {'AUROC':>7} {'recall':>7} {'precision':>9} {'flagged':>8}")
    for rule, m in results.items():
        if isinstance(m, dict):
            values = list(m.values())
            print(f"{rule:<10} {values[0]:>7.3f} {values[1]:>7.3f} {values[2]:>9.3f} {values[3]:>8d}")
    report = {
        "data": str(args.data), "rows": len(rows), "harmful": int(label.sum()), "threshold": args.threshold,
        "results": results, "pipeline_seconds": round(seconds, 2), "config_hash": cfg.content_hash(),
        "config": cfg.model_dump(mode="json"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
