"""The per-shard safety report card: counts, score histograms, routes, LLM contribution, timings."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Config

CARD_VERSION = 1
SCORES = range(6)


def histogram(column: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    counts = Counter(column.to_pylist())
    hist = {str(s): counts.get(s, 0) for s in SCORES}
    hist["null"] = counts.get(None, 0)
    return hist


def model_names(cfg: Config) -> dict[str, str | None]:
    scoring = cfg.scoring
    return {
        "encoder": scoring.embed.model or "all-MiniLM-L6-v2 (packaged)",
        "head": scoring.embed.head or "default (packaged)",
        "llm": (scoring.llm.model or "SmolLM2-135M-Instruct (packaged)") if scoring.llm.enabled else None,
        "generator": (cfg.generation.model or scoring.llm.model or "SmolLM2-135M-Instruct (packaged)")
        if cfg.generation.enabled else None,
    }


def _sum(column) -> float:
    value = pc.sum(column).as_py()
    return float(value or 0.0)


def stage_counts(scored: pa.Table, generated: dict[str, pa.Table], cfg: Config) -> dict:
    """Rows each generation stage wrote, and routed rows it could not turn into text."""
    routed = Counter(scored["route"].to_pylist())
    counts = {name: table.num_rows for name, table in generated.items()}
    counts["templates"] = dict(sorted(Counter(generated["safeweb"]["template"].to_pylist()).items()))
    if cfg.generation.enabled:
        counts["empty_generations"] = {
            "safeweb": routed.get("rephrase", 0) - counts["safeweb"],
            "refuseweb": routed.get("refuse", 0) - counts["refuseweb"],
            "moral_education": counts["refuseweb"] - counts["moral_education"],
        }
    if cfg.reflections.enabled:
        table = generated["reflections"]
        counts["reflection_segments"] = int(pc.sum(table["segments"]).as_py() or 0)
        counts["reflection_unsafe_segments"] = int(pc.sum(table["unsafe_segments"]).as_py() or 0)
    return counts


def build_card(shard, scored: pa.Table, rejects: pa.Table, scores: pa.Table, cfg: Config,
               generated: dict[str, pa.Table]) -> dict:
    """The machine-readable card of one shard (reports/S.json)."""
    llm = scored["llm_score"]
    embed = scored["embed_score"]
    raised = pc.sum(pc.greater(scored["safety_score"], embed)).as_py() or 0
    return {
        "schema_version": CARD_VERSION,
        "shard": shard.stem,
        "input": shard.path,
        "rows": {"in": shard.num_rows, "scored": scored.num_rows, "rejected": rejects.num_rows},
        "rejects_by_reason": dict(sorted(Counter(rejects["reason"].to_pylist()).items())),
        "histograms": {
            "safety_score": histogram(scored["safety_score"]),
            "embed_score": histogram(embed),
            "llm_score": histogram(llm),
        },
        "routes": {r: scored["route"].to_pylist().count(r) for r in ("keep", "rephrase", "refuse")},
        "llm": {
            "enabled": cfg.scoring.llm.enabled,
            "vote": cfg.scoring.llm.vote,
            "invalid_replies": int(pc.sum(pc.fill_null(scores["llm_invalid"], False)).as_py() or 0),
            "raised_score": int(raised),
            "agreed_with_embed": int(pc.sum(pc.equal(llm, embed)).as_py() or 0),
        },
        "stages": stage_counts(scored, generated, cfg),
        "tokens": int(_sum(scored["tokens"])),
        "seconds": {
            "embed": round(_sum(scores["seconds_embed"]), 3),
            "llm": round(_sum(scores["seconds_llm"]), 3),
            "generate": round(_sum(scores["seconds_generate"]), 3),
        },
        "config_hash": cfg.content_hash(),
        "models": model_names(cfg),
    }


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def card_markdown(card: dict) -> str:
    """The human-readable card (reports/S.md)."""
    rows = card["rows"]
    hist = card["histograms"]
    keys = [str(s) for s in SCORES] + ["null"]
    parts = [
        f"# Safety report card: {card['shard']}",
        f"Input `{card['input']}` · config `{card['config_hash']}` · {card['tokens']} tokens",
        _table(["rows in", "scored", "rejected"], [[rows["in"], rows["scored"], rows["rejected"]]]),
        "## Score histograms",
        _table(["score"] + keys, [[name] + [hist[name][k] for k in keys] for name in hist]),
        "## Routes",
        _table(list(card["routes"]), [list(card["routes"].values())]),
        "## Rejects by reason",
        _table(["reason", "rows"], [[r, n] for r, n in card["rejects_by_reason"].items()] or [["-", 0]]),
        "## Generation and reflections",
        _table(["stage", "rows"], [[k, v] for k, v in card["stages"].items()]),
        "## LLM scorer",
        _table(list(card["llm"]), [list(card["llm"].values())]),
        "## Seconds per stage (model time summed over actors, then the commit)",
        _table(list(card["seconds"]), [list(card["seconds"].values())]),
        "## Models",
        _table(list(card["models"]), [list(card["models"].values())]),
    ]
    return "\n\n".join(parts) + "\n"
