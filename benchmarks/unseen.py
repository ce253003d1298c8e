"""The packaged classifier on sources it never saw: scored as it ships, nothing fitted or chosen on them.

`make quality` holds each training source out of a refit; this scores the shipped heads, tuned layers and
thresholds as they are, on the sources of curation.fitting.sources.UNSEEN (fetched into --raw by `make sources`):
safe prompts that only sound harmful beside harmful ones (OR-Bench), pseudo-harmful requests (PHTest), Gab and
Twitter posts labelled for hate (HateXplain), counter-speech replies (CrowdCounter), health pages (MedQuAD) and
trivia questions (WebQuestions). A row whose text the training table also holds (curation.fitting.table.text_key)
is left out. Prints per source the figures of benchmarks.quality (AUROC of `safety_score` and `safety_prob` for
the label score >= 2, precision and recall at safety_score >= 2, flagged and routed shares) and the flagged share
under each of the source's own labels. Writes JSON.

    python -m benchmarks.unseen --raw FOLDER [--per-source 800] [--model all-mpnet-base-v2]
                                [--json benchmarks/results/unseen.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import machine, results_path
from benchmarks.quality import binary_metrics, print_table
from curation.config import EmbedConfig
from curation.fitting.sources import Row, unseen_sources
from curation.fitting.table import build_table, text_key
from curation.models.encoder import EmbeddingClassifier


def label_shares(rows: list[Row], score: np.ndarray) -> dict:
    """Rows and flagged share (safety_score >= 2) per source label, a label's part before any "/" (OR-Bench's
    hard/illegal -> hard)."""
    groups = defaultdict(list)
    for row, value in zip(rows, score, strict=True):
        groups[row.label.split("/")[0]].append(value >= 2)
    return {label: {"rows": len(flags), "flagged_share": round(float(np.mean(flags)), 4)}
            for label, flags in sorted(groups.items())}


def unseen_sample(rows: list[Row], trained: set[str], most: int) -> tuple[list[Row], int]:
    """(a seeded sample of up to `most` of `rows` whose text the training table does not hold, as keys in `trained`
    (curation.fitting.table.text_key); how many rows it does hold)."""
    fresh = [r for r in rows if text_key(r.text) not in trained]
    return random.Random(0).sample(fresh, min(most, len(fresh))), len(rows) - len(fresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources, <owner>+<repo>/<path>")
    parser.add_argument("--per-source", type=int, default=800, help="rows scored per source (seeded sample)")
    parser.add_argument("--model", help="scoring.embed.model, scored with its packaged head (default: the MiniLM)")
    parser.add_argument("--json", type=Path, default=None,
                        help="default benchmarks/results/unseen.json, unseen_<model>.json with --model")
    args = parser.parse_args()
    args.json = args.json or results_path("unseen", args.model)
    started = time.time()
    cfg = EmbedConfig(model=args.model)
    classifier = EmbeddingClassifier(cfg)
    table, _ = build_table(args.raw, seed=classifier.head.info.get("settings", {}).get("seed", 0))  # as make head
    trained = {text_key(text) for text in table.column("text").to_pylist()}
    results, sources, missing = {}, {}, []
    for source in unseen_sources():
        if not source.available(args.raw):
            missing.append(source.name)
            continue
        read = source.load(args.raw)
        rows, held = unseen_sample(read, trained, args.per_source)
        score, prob, _ = classifier.score([r.text for r in rows])
        score = np.asarray(score)
        results[source.name] = {**binary_metrics(np.array([r.score >= 2 for r in rows]), score, np.asarray(prob)),
                                "by_label": label_shares(rows, score)}
        sources[source.name] = {"repo": source.repo, "commit": source.commit or None, "license": source.license,
                                "mapping": source.mapping, "rows_read": len(read),
                                "rows_in_training_table": held}
        print(f"{source.name}: {results[source.name]}", flush=True)
    if missing:
        print(f"not in {args.raw} (fetch them with `make sources`): {', '.join(missing)}")
    if not results:
        parser.error(f"no unseen source in {args.raw}")
    print_table(results)
    for name, metrics in results.items():
        shares = metrics["by_label"].items()
        print(f"{name:<26} flagged by label: " + ", ".join(f"{label} {s['flagged_share']:.3f} ({s['rows']})"
                                                             for label, s in shares))
    report = {"what": f"the packaged classifier as it ships (EmbedConfig with model {args.model or 'default'}) on "
                      "sources no head, tuned layer or threshold was fitted to; a seeded sample per source",
              "threshold": 2, "per_source": args.per_source, "results": results, "sources": sources,
              "missing": missing,
              "packaged_head": {k: classifier.head.info.get(k) for k in ("encoder_weight", "level_thresholds",
                                                                         "confident_levels", "level_one_from")},
              "config": cfg.model_dump(mode="json"), "seconds": round(time.time() - started, 1),
              "machine": machine()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
