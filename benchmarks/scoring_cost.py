"""What dilution-proof scoring costs: embedding-classifier docs/s with chunks only, + sentence windows, + the
lexical head (the default), + edge pieces on more paragraphs, as a bare loop on the throughput benchmark's
corpus (same texts, batches, threads).

    python -m benchmarks.scoring_cost [--docs 320] [--json benchmarks/results/scoring_cost.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import table, write_json
from benchmarks.throughput import corpus, set_threads, timed
from curation.config import EmbedConfig
from curation.models.encoder import DEFAULT_HEAD, EmbeddingClassifier, load_encoder

VARIANTS = {
    "chunks, encoder head": {"window_tokens": 0, "lexical": False},
    "chunks + sentence windows, encoder head": {"window_tokens": 64, "lexical": False},
    "chunks + sentence windows + lexical (default)": {},
    "the same, edge pieces on the first and last 4 paragraphs": {"edge_paragraphs": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the embedding actor's default)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/scoring_cost.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    texts = corpus(args.docs)
    encoder = load_encoder(EmbedConfig(), DEFAULT_HEAD)  # with the packaged head's tuned layers, if any
    results = {}
    for name, options in VARIANTS.items():
        classifier = EmbeddingClassifier(EmbedConfig(**options), args.batch_size, encoder=encoder)
        classifier.score(texts[:args.batch_size])  # warm up
        batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
        scored, seconds = timed(lambda c=classifier, bs=batches: [c.score(b) for b in bs])
        tokens = sum(sum(r[2]) for r in scored)
        results[name] = {"docs_per_s": round(len(texts) / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                         "seconds": round(seconds, 2)}
    base = results["chunks, encoder head"]["docs_per_s"]
    rows = [[n, r["docs_per_s"], r["tokens_per_s"], round(r["docs_per_s"] / base, 2)] for n, r in results.items()]
    print(table(["scoring", "docs/s", "tokens/s", "vs chunks only"], rows))
    write_json(args.json, {"docs": len(texts), "batch_size": args.batch_size, "threads": args.threads,
                           "results": results})


if __name__ == "__main__":
    main()
