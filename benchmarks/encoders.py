"""Which packaged encoder separates harm better: the same frozen head recipe over each encoder's embeddings.

For each encoder (`scoring.embed.model` values: the packaged all-MiniLM-L6-v2 and all-mpnet-base-v2 of the `mpnet`
extra) every row of a seeded sample of the training table (at most --per-source rows per source) is embedded whole,
once, and a binary logistic head (label score >= 2, balanced classes, rows weighted as `make head` weighs
them: curation.fitting.heads.row_weights with no extra weight on unsafe rows) is fitted
on three of the four pinned folds of sources (curation/fitting/folds.json) and scores the fourth. Nothing else
differs between encoders: no tuned layers, no lexical head, no windows, so the figures isolate the encoder. Prints
per source with both classes the AUROC out of fold; per harmful-request source the share flagged at the threshold
that flags 5% of the harmless-request sources (pooled) out of fold; then, with heads fitted on every row, the same
on the sources of curation.fitting.sources.UNSEEN that have labels to rank (OR-Bench, HateXplain) and the share of
PHTest's harmless prompts over that threshold; and the encoder's seconds for the sample. Writes JSON.

    python -m benchmarks.encoders --raw FOLDER [--per-source 800] [--encoders ,all-mpnet-base-v2]
                                  [--json benchmarks/results/encoders.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import table, write_json
from benchmarks.unseen import unseen_sample
from curation.config import EmbedConfig
from curation.fitting.heads import group_folds, row_weights
from curation.fitting.held_out import sample_rows
from curation.fitting.sources import unseen_sources
from curation.fitting.table import build_table, table_columns, text_key
from curation.models.encoder import load_encoder
from curation.models.packaged import MPNET

HARMFUL = ("catqa", "strongreject", "simple_safety_tests", "ailuminate", "harmbench")
HARMLESS = ("self_instruct", "mt_bench", "open_assistant", "arena_hard")
UNSEEN = ("or_bench", "hatexplain", "phtest")
FLAG_HARMLESS = 0.05


def fit(embeddings: np.ndarray, label: np.ndarray, weight: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(embeddings, label,
                                                                                   sample_weight=weight)


def compare(model: str | None, texts: list[str], label: np.ndarray, sources: np.ndarray, unseen: dict) -> dict:
    """One encoder's figures (see the module's docstring)."""
    from sklearn.metrics import roc_auc_score

    encoder = load_encoder(EmbedConfig(model=model or None))
    started = time.time()
    embeddings = encoder.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)  # length-sorted
    seconds = time.time() - started
    weight, folds = row_weights(label, sources, 1.0), group_folds(sources, 4)
    out_of_fold = np.zeros(len(texts))
    for k in np.unique(folds):
        head = fit(embeddings[folds != k], label[folds != k], weight[folds != k])
        out_of_fold[folds == k] = head.predict_proba(embeddings[folds == k])[:, 1]
    auroc = {s: round(float(roc_auc_score(label[sources == s], out_of_fold[sources == s])), 4)
             for s in np.unique(sources) if 0 < label[sources == s].sum() < (sources == s).sum()}
    harmless = np.isin(sources, HARMLESS)
    threshold = float(np.quantile(out_of_fold[harmless], 1 - FLAG_HARMLESS)) if harmless.any() else 0.5
    flagged = {s: round(float((out_of_fold[sources == s] >= threshold).mean()), 4) for s in HARMFUL
               if (sources == s).any()}
    head = fit(embeddings, label, weight)
    on_unseen = {}
    for name, rows in unseen.items():
        prob = head.predict_proba(encoder.encode([r.text for r in rows], batch_size=32, convert_to_numpy=True,
                                                 show_progress_bar=False))[:, 1]
        truth = np.array([r.score >= 2 for r in rows])
        on_unseen[name] = {"rows": len(rows), "unsafe": int(truth.sum()),
                           "auroc": (round(float(roc_auc_score(truth, prob)), 4) if 0 < truth.sum() < len(truth)
                                     else None),
                           "flagged_share": round(float((prob >= threshold).mean()), 4)}
    return {"encoder": model or "all-MiniLM-L6-v2", "dimensions": int(embeddings.shape[1]),
            "embed_seconds": round(seconds, 1), "rows_per_s": round(len(texts) / seconds, 1),
            "auroc_out_of_fold": auroc, "mean_auroc": round(float(np.mean(list(auroc.values()))), 4),
            "harmful_flagged_at_harmless_5pct": flagged, "unseen": on_unseen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources, <owner>+<repo>/<path>")
    parser.add_argument("--per-source", type=int, default=800, help="most table rows of one source")
    parser.add_argument("--unseen-rows", type=int, default=800, help="rows of each unseen source")
    parser.add_argument("--encoders", default=f",{MPNET}",
                        help="comma-separated scoring.embed.model values (empty = the packaged MiniLM)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/encoders.json"))
    args = parser.parse_args()
    full, _ = build_table(args.raw)
    texts, scores, sources = table_columns(full)
    keep = np.concatenate([sample_rows(sources == s, args.per_source, 0, s) for s in np.unique(sources)])
    texts, label, sources = [texts[i] for i in keep], scores[keep] >= 2, sources[keep]
    trained = {text_key(t) for t in full.column("text").to_pylist()}
    unseen = {}
    for source in unseen_sources():
        if source.name in UNSEEN and source.available(args.raw):
            unseen[source.name], _ = unseen_sample(source.load(args.raw), trained, args.unseen_rows)
    results = [compare(model, texts, label, sources, unseen) for model in args.encoders.split(",")]
    names = [r["encoder"] for r in results]
    rows = [[s] + [r["auroc_out_of_fold"][s] for r in results] for s in results[0]["auroc_out_of_fold"]]
    rows.append(["mean"] + [r["mean_auroc"] for r in results])
    rows += [[f"{s} flagged at 5% harmless"] + [r["harmful_flagged_at_harmless_5pct"][s] for r in results]
             for s in results[0]["harmful_flagged_at_harmless_5pct"]]
    for name in unseen:
        if results[0]["unseen"][name]["auroc"] is not None:
            rows.append([f"{name} (unseen) AUROC"] + [r["unseen"][name]["auroc"] for r in results])
        rows.append([f"{name} (unseen) flagged"] + [r["unseen"][name]["flagged_share"] for r in results])
    rows.append(["table rows embedded per s"] + [r["rows_per_s"] for r in results])
    print(table(["AUROC out of fold (score >= 2)"] + names, rows))
    write_json(args.json, {
        "benchmark": "encoders", "rows": len(texts), "per_source": args.per_source,
        "head": "binary logistic regression (C=1, balanced, rows weighted by curation.fitting.heads.row_weights with "
                "unsafe_weight 1: 1/sqrt(source size), mean 1) over whole-text "
                "embeddings of the frozen encoder; four pinned folds of sources (curation/fitting/folds.json)",
        "harmful": list(HARMFUL), "harmless": list(HARMLESS), "results": results})


if __name__ == "__main__":
    main()
