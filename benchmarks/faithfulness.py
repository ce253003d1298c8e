"""The off-topic gate's threshold: encoder cosine of human meaning-preserving rewrites against random pairs.

ParaDetox (s-nlp/paradetox, CC0-1.0) pairs a toxic sentence with a crowd-written, crowd-verified rewrite that keeps
its meaning and drops the toxicity: what a SafeWeb rewrite should do to a document. Each pair's cosine similarity
under the scoring encoder (all-MiniLM-L6-v2, packaged; `--model` another, e.g. all-mpnet-base-v2) is set against
the same sentences paired at random. Prints quantiles of both and, per candidate threshold, the share of rewrites
and of random pairs that would pass the gate (`generation.gates.min_similarity`). Writes JSON.

    python -m benchmarks.faithfulness --raw FOLDER [--pairs 1500] [--model NAME]
                                      [--json benchmarks/results/faithfulness.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import numpy as np

from benchmarks.common import machine, results_path

PARADETOX = "s-nlp+paradetox/paradetox/paradetox.tsv"
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def pairs(raw: Path, count: int, seed: int = 0) -> list[tuple[str, str]]:
    with open(raw / PARADETOX, encoding="utf-8", newline="") as handle:
        rows = [(r["toxic"].strip(), r["neutral1"].strip()) for r in csv.DictReader(handle, delimiter="\t")
                if r.get("toxic") and r.get("neutral1") and r["toxic"].strip() != r["neutral1"].strip()]
    random.Random(seed).shuffle(rows)
    return rows[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources (<owner>+<repo>/<path>)")
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--model", help="scoring.embed.model (default: the packaged MiniLM)")
    parser.add_argument("--json", type=Path, default=None,
                        help="default benchmarks/results/faithfulness.json, faithfulness_<model>.json with --model")
    args = parser.parse_args()
    args.json = args.json or results_path("faithfulness", args.model)

    from curation.config import EmbedConfig
    from curation.models.encoder import DEFAULT_HEAD, ENCODER_TOP, load_encoder

    chosen = pairs(args.raw, args.pairs)
    print(f"{len(chosen)} ParaDetox pairs")
    result = {"what": "encoder cosine of human meaning-preserving rewrites (ParaDetox) vs random pairs",
              "source": "s-nlp/paradetox (CC0-1.0)", "pairs": len(chosen),
              "encoder": f"{args.model or 'all-MiniLM-L6-v2'} (packaged)",
              **cosines(load_encoder(EmbedConfig(model=args.model)), chosen), "machine": machine()}
    if not args.model and (DEFAULT_HEAD / ENCODER_TOP).is_file():  # why the gate keeps the packaged layers
        print("with the packaged head's tuned top layers (not used by the gate):")
        result["with_tuned_layers"] = cosines(load_encoder(EmbedConfig(), DEFAULT_HEAD), chosen)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.json}")


def cosines(encoder, chosen: list[tuple[str, str]]) -> dict:
    """Cosine quantiles of the pairs and of the same sentences paired at random, and the share of each that each
    candidate threshold keeps; printed and returned."""
    source = encoder.encode([a for a, _ in chosen], normalize_embeddings=True, batch_size=64)
    rewrite = encoder.encode([b for _, b in chosen], normalize_embeddings=True, batch_size=64)
    faithful = (source * rewrite).sum(axis=1)
    shuffled = (source * rewrite[np.random.default_rng(0).permutation(len(rewrite))]).sum(axis=1)

    def quantiles(values: np.ndarray) -> dict[str, float]:
        return {str(q): round(float(np.quantile(values, q)), 3) for q in QUANTILES}

    gate = {str(t): {"rewrites_kept": round(float((faithful >= t).mean()), 4),
                     "random_kept": round(float((shuffled >= t).mean()), 4)} for t in THRESHOLDS}
    print("  cosine quantiles, rewrites", quantiles(faithful))
    print("  cosine quantiles, random  ", quantiles(shuffled))
    for threshold, kept in gate.items():
        print(f"  min_similarity {threshold}: rewrites kept {kept['rewrites_kept']:.3f}, "
              f"random pairs kept {kept['random_kept']:.4f}")
    return {"rewrites": quantiles(faithful), "random": quantiles(shuffled), "gate": gate}


if __name__ == "__main__":
    main()
