"""The corpus card: every committed shard's card merged into OUT/report.{json,md,html}.

Merging is exact: every count of the corpus card is the sum of the shards' counts, and rates are
recomputed from the summed hits and tokens (never averaged).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from curation.io.storage import Store

CORPUS_VERSION = 1
GENERATION_COUNTS = ("routed", "written", "passed_on_retry", "tokens")


def shard_cards(out: str | Path | Store) -> list[dict]:
    """The cards of the shards committed in `out` (those with a manifest), by shard name."""
    store = out if isinstance(out, Store) else Store(out)
    cards = []
    for manifest in store.names("_manifest", ".json"):
        card = store.read_bytes(f"reports/{manifest}")
        if card is not None:
            cards.append(json.loads(card))
    return cards


def _add(total: dict, part: dict) -> None:
    """Add `part`'s numbers into `total`, key by key, recursing into dicts."""
    for key, value in part.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


def unsafe_fraction(card: dict) -> float:
    scored = card["rows"]["scored"]
    return round(sum(card["histograms"]["safety_score"][s] for s in ("4", "5")) / scored, 4) if scored else 0.0


def merge_cards(cards: list[dict]) -> dict:
    """The corpus card of `cards`."""
    from curation.report.ngrams import merge_slices

    rows, histograms, routes, rejects, seconds = {}, {}, Counter(), Counter(), {}
    generation: dict = {}
    categories: dict = {}
    for card in cards:
        _add(rows, card["rows"])
        _add(histograms, card["histograms"])
        routes.update(card["routes"])
        rejects.update(card["rejects_by_reason"])
        _add(seconds, card["seconds"])
        for stage, figures in (card.get("generation") or {}).items():
            if isinstance(figures, dict) and "routed" in figures:
                total = generation.setdefault(stage, {})
                _add(total, {k: figures[k] for k in (*GENERATION_COUNTS, "seconds")})
                _add(total, {"gate_failures": figures["gate_failures"], "source_scores": figures["source_scores"],
                             "generated_scores": figures["generated_scores"]})
        if card.get("ngrams"):
            categories.update(card["ngrams"]["categories"])
    ngram_slices = merge_slices([c["ngrams"] for c in cards if c.get("ngrams")])
    for figures in generation.values():
        figures["tokens_per_second"] = round(figures["tokens"] / figures["seconds"], 1) if figures["seconds"] else None
    shards = sorted(({"shard": c["shard"], "rows_in": c["rows"]["in"], "scored": c["rows"]["scored"],
                      "rejected": c["rows"]["rejected"], "unsafe_fraction": unsafe_fraction(c), **c["routes"],
                      "tokens": c["tokens"]} for c in cards), key=lambda s: -s["unsafe_fraction"])
    merged = {
        "schema_version": CORPUS_VERSION,
        "shards": len(cards),
        "rows": rows,
        "rejects_by_reason": dict(sorted(rejects.items())),
        "histograms": histograms,
        "routes": {r: routes.get(r, 0) for r in ("keep", "rephrase", "refuse")},
        "generation": generation,
        "ngrams": {"categories": categories, "slices": ngram_slices} if ngram_slices else None,
        "tokens": sum(c["tokens"] for c in cards),
        "seconds": seconds,
        "config_hashes": sorted({c["config_hash"] for c in cards}),
        "per_shard": shards,
    }
    merged["unsafe_fraction"] = unsafe_fraction(merged) if rows else 0.0
    return merged


def write_corpus_card(out: str | Path | Store) -> dict:
    """Merge the committed shards' cards of `out` and write OUT/report.json, .md and .html."""
    from curation.report.html import corpus_html

    store = out if isinstance(out, Store) else Store(out)
    card = merge_cards(shard_cards(store))
    store.write_bytes("report.json", (json.dumps(card, indent=2) + "\n").encode())
    store.write_bytes("report.md", corpus_markdown(card).encode())
    store.write_bytes("report.html", corpus_html(card).encode())
    return card


def corpus_markdown(card: dict) -> str:
    from curation.report.card import markdown_table

    rows = card["rows"] or {"in": 0, "scored": 0, "rejected": 0}
    parts = [
        "# Corpus safety report card",
        f"{card['shards']} shards · {card['tokens']} tokens · {100 * card['unsafe_fraction']:.1f}% of scored rows "
        "score 4-5",
        markdown_table(["rows in", "scored", "rejected"],
               [[rows.get("in", 0), rows.get("scored", 0), rows.get("rejected", 0)]]),
        "## Routes",
        markdown_table(list(card["routes"]), [list(card["routes"].values())]),
        "## Shards (most unsafe first)",
        markdown_table(["shard", "rows in", "scored", "rejected", "unsafe fraction", "keep", "rephrase", "refuse"],
               [[s["shard"], s["rows_in"], s["scored"], s["rejected"], s["unsafe_fraction"], s["keep"],
                 s["rephrase"], s["refuse"]] for s in card["per_shard"]]),
    ]
    if card["ngrams"]:
        keys = list(card["ngrams"]["categories"])
        parts += ["## Harmful n-gram rates (hits per million tokens)",
                  markdown_table(["slice", "tokens", *keys],
                                 [[n, sl["tokens"], *(sl["per_million"].get(k, 0) for k in keys)]
                                  for n, sl in card["ngrams"]["slices"].items()])]
    return "\n\n".join(parts) + "\n"
