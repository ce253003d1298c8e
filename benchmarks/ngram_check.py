"""Report-card n-gram rates checked and timed on a curation output folder.

For every committed shard of OUT, rebuilds each slice (raw documents by score bucket, SafeWeb, RefuseWeb,
Moral Education) from the output files, counts every query again by brute force (exact token-sequence
matching in Python) and compares with the hits on the shard's card (counted with infini-gram at commit).
Also times the infini-gram path (tokenize, index, count) per shard and compares the total with the
run's own seconds per stage from the cards, and prints the corpus rates per slice: raw unsafe slices
against SafeWeb and Moral Education. Writes JSON.

    python -m benchmarks.ngram_check OUT [--json benchmarks/results/ngram_check.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pyarrow.parquet as pq

from curation.report.ngrams import (
    GENERATED_SLICES,
    LISTS,
    count_brute_force,
    load_categories,
    ngram_card,
    project_tokenizer,
    shard_slices,
    tokenize,
)


def shard_outputs(out: Path, stem: str):
    scored = pq.read_table(out / "scored" / f"{stem}.parquet", columns=["text", "safety_score"])
    generated = {name: pq.read_table(out / name / f"{stem}.parquet", columns=["text"]) for name in GENERATED_SLICES
                 if (out / name / f"{stem}.parquet").exists()}
    return scored, generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/ngram_check.json"))
    parser.add_argument("--wall", type=float, default=None,
                        help="wall seconds of the curation run, to state the n-gram share of it")
    args = parser.parse_args()

    tokenizer = project_tokenizer()
    categories = load_categories(tokenizer, LISTS)
    stems = sorted(p.stem for p in (args.out / "_manifest").glob("*.json"))
    shards, mismatches, corpus = {}, [], {}
    for stem in stems:
        card = json.loads((args.out / "reports" / f"{stem}.json").read_text())
        slices = shard_slices(*shard_outputs(args.out, stem))
        started = time.perf_counter()
        recount = ngram_card(slices)
        index_seconds = time.perf_counter() - started
        if not card.get("ngrams"):  # an output curated with report.ngrams off: count it now
            print(f"{stem}: no n-gram section on its card; counted from the outputs with infini-gram now")
            card["ngrams"] = dict(recount, seconds=0.0)
        for name, texts in slices.items():
            brute = count_brute_force([d for d in tokenize(tokenizer, texts) if len(d)], categories)
            on_card = card["ngrams"]["slices"][name]["hits"]
            if brute != on_card:
                mismatches.append({"shard": stem, "slice": name, "card": on_card, "brute_force": brute})
            total = corpus.setdefault(name, {"tokens": 0, "hits": dict.fromkeys(brute, 0)})
            total["tokens"] += card["ngrams"]["slices"][name]["tokens"]
            for key, hits in brute.items():
                total["hits"][key] += hits
        run_seconds = sum(card["seconds"].values())
        shards[stem] = {"index_seconds": round(index_seconds, 3), "card_ngram_seconds": card["ngrams"]["seconds"],
                        "run_seconds": round(run_seconds, 3),
                        "overhead": round(card["ngrams"]["seconds"] / run_seconds, 4) if run_seconds else 0.0,
                        "recount_equal": recount["slices"] == card["ngrams"]["slices"]}
        print(f"{stem}: brute force {'matches' if not any(m['shard'] == stem for m in mismatches) else 'DIFFERS'}; "
              f"n-grams {card['ngrams']['seconds']:.1f}s of {run_seconds:.1f}s model+commit time "
              f"({100 * shards[stem]['overhead']:.1f}%)")
    for total in corpus.values():
        hits = sum(total["hits"].values())
        total["per_million_all"] = round(hits * 1e6 / total["tokens"], 1) if total["tokens"] else 0
    print(f"\n{'slice':<16} {'tokens':>8} {'hits/M tokens (all categories)':>32}")
    for name, total in corpus.items():
        print(f"{name:<16} {total['tokens']:>8} {total['per_million_all']:>32}")
    ngram_total = sum(s["card_ngram_seconds"] for s in shards.values())
    share = round(ngram_total / args.wall, 4) if args.wall else None
    if share is not None:
        print(f"n-gram counting: {ngram_total:.1f}s summed over shards = {100 * share:.1f}% of the run's "
              f"{args.wall:.0f}s wall time (an upper bound: shard commits overlap the model stages)")
    print(f"\n{len(mismatches)} slice(s) where the card differs from brute force")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "out": str(args.out), "shards": shards, "mismatches": mismatches, "corpus": corpus,
        "ngram_seconds": round(ngram_total, 3), "wall_seconds": args.wall, "ngram_share_of_wall": share,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
