"""The per-shard safety report card: counts, score histograms, routes, LLM contribution, timings."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from curation import __version__
from curation.config import Config
from curation.schema import MORAL_EDUCATION, PREFIX, SCORE_BANDS

CARD_VERSION = 2
"""2: generation per stage, n-gram rates per slice, examples, safecurate_version."""
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


def mean_present(values: list) -> float | None:
    """The mean of the values that are not None, to 3 places; None when there are none."""
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 3) if present else None


def generation_figures(scores: pa.Table, cfg: Config) -> dict:
    """Per generation stage: rows routed and written, gate failures, score histograms of the sources and of
    the generated texts, tokens and tokens/s; and rows reused from checkpoints of an earlier run. A stage
    turned off has no figures but a line in `off` saying why."""
    by_row = scores["safety_score"].to_pylist()
    figures: dict = {}
    if MORAL_EDUCATION not in cfg.generation.kinds:
        figures["off"] = {MORAL_EDUCATION: MORAL_EDUCATION_OFF}
    for folder in cfg.generation.kinds:
        prefix = PREFIX[folder]
        written = scores[f"{prefix}_text"].is_valid()
        gate = scores[f"{prefix}_gate"]
        tried = pc.or_(written, gate.is_valid())
        tokens = _sum(scores[f"{prefix}_tokens"])
        seconds = _sum(scores[f"seconds_{prefix}"])
        sources = [s for s, w in zip(by_row, written.to_pylist(), strict=True) if w]
        generated = scores[f"{prefix}_score"].filter(written)
        attempts = scores[f"{prefix}_attempts"].filter(written).to_pylist()
        routed, count = int(pc.sum(tried).as_py() or 0), int(pc.sum(written).as_py() or 0)
        figures[folder] = {
            "routed": routed,
            "written": count,
            "yield": round(count / routed, 3) if routed else None,
            "passed_on_retry": sum(1 for a in attempts if a and a > 1),
            "gate_failures": dict(sorted(Counter(r for r in gate.to_pylist() if r is not None).items())),
            "source_scores": histogram(pa.array(sources, pa.int64())),
            "generated_scores": histogram(generated),
            "mean_source_score": mean_present(sources),
            "mean_generated_score": mean_present(generated.to_pylist()),
            "mean_similarity": mean_present(scores[f"{prefix}_similarity"].filter(written).to_pylist()),
            "tokens": int(tokens),
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        }
    figures["templates"] = dict(sorted(Counter(scores["template"].filter(
        scores["safeweb_text"].is_valid()).to_pylist()).items()))
    figures["reused_from_checkpoint"] = int(pc.sum(pc.fill_null(scores["generation_reused"], False)).as_py() or 0)
    return figures


def reflection_figures(generated: dict[str, pa.Table]) -> dict:
    table = generated["reflections"]
    return {
        "rows": table.num_rows,
        "segments": int(pc.sum(table["segments"]).as_py() or 0),
        "unsafe_segments": int(pc.sum(table["unsafe_segments"]).as_py() or 0),
    }


MORAL_EDUCATION_OFF = ("off (generation.moral_education): the packaged SmolLM2-135M wrote 0 of 30 articles on the "
                       "sample for a quarter of its generated tokens; turn it on with a capable model "
                       "(cluster/gpu.yaml)")
LLM_OFF = ("off: the packaged SmolLM2-135M rates real text at chance (AUROC 0.51 over 17 public sources, "
           "benchmarks/results/llm_signal.json); the embedding classifier scores alone. Turn it on with a capable "
           "model (cluster/gpu.yaml)")
CARD_SCORED_COLUMNS = ["safety_score", "llm_score", "embed_score", "route", "tokens"]
"""The columns of scored rows a card counts (examples aside)."""


def build_card(shard, scored: pa.Table, rejects: pa.Table, scores: pa.Table, cfg: Config,
               generated: dict[str, pa.Table], found_examples: dict) -> dict:
    """The machine-readable card of one shard (reports/S.json). `scored` needs CARD_SCORED_COLUMNS, `rejects`
    stage and reason, `generated` the reflections' counts; `found_examples` come from `examples`."""
    llm = scored["llm_score"]
    embed = scored["embed_score"]
    raised = pc.sum(pc.greater(scored["safety_score"], embed)).as_py() or 0
    input_rejects = rejects.filter(pc.equal(rejects["stage"], "input"))
    return {
        "schema_version": CARD_VERSION,
        "shard": shard.stem,
        "input": shard.path,
        "rows": {"in": shard.num_rows, "scored": scored.num_rows, "rejected": input_rejects.num_rows,
                 "generated_rejected": rejects.num_rows - input_rejects.num_rows},
        "rejects_by_reason": dict(sorted(Counter(input_rejects["reason"].to_pylist()).items())),
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
            "note": None if cfg.scoring.llm.enabled else LLM_OFF,
        },
        "generation": generation_figures(scores, cfg) if cfg.generation.enabled else None,
        "reflections": reflection_figures(generated) if cfg.reflections.enabled else None,
        "tokens": int(_sum(scored["tokens"])),
        "seconds": {
            "embed": round(_sum(scores["seconds_embed"]), 3),
            "llm": round(_sum(scores["seconds_llm"]), 3),
            "generate": round(_sum(scores["seconds_generate"]), 3),
        },
        "config_hash": cfg.content_hash(),
        "models": model_names(cfg),
        "safecurate_version": __version__,
        "examples": found_examples,
    }


def markdown_table(header: list[str], rows: list[list]) -> str:
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
        markdown_table(["rows in", "scored", "rejected"], [[rows["in"], rows["scored"], rows["rejected"]]]),
        "## Score histograms",
        markdown_table(["score"] + keys, [[name] + [hist[name][k] for k in keys] for name in hist]),
        "## Routes",
        markdown_table(list(card["routes"]), [list(card["routes"].values())]),
        "## Rejects by reason",
        markdown_table(["reason", "rows"], [[r, n] for r, n in card["rejects_by_reason"].items()] or [["-", 0]]),
        *generation_markdown(card),
        "## LLM scorer",
        markdown_table(list(card["llm"]), [list(card["llm"].values())]),
        "## Seconds per stage (model time summed over actors, then the commit)",
        markdown_table(list(card["seconds"]), [list(card["seconds"].values())]),
        "## Models",
        markdown_table(list(card["models"]), [list(card["models"].values())]),
    ]
    return "\n\n".join(parts) + "\n"


def generation_markdown(card: dict) -> list[str]:
    parts = []
    gen = card.get("generation")
    if gen:
        stages = [k for k in gen if isinstance(gen[k], dict) and "routed" in gen[k]]
        keys = [str(s) for s in SCORES]
        parts += [
            "## Generation",
            markdown_table(["stage", "routed", "written", "yield", "passed on retry", "gate failures",
                            "mean source score", "mean generated score", "mean similarity to source", "tokens",
                            "tokens/s"],
                           [[name, f["routed"], f["written"], f.get("yield"), f["passed_on_retry"],
                             ", ".join(f"{r}: {n}" for r, n in f["gate_failures"].items()) or "-",
                             f["mean_source_score"], f["mean_generated_score"], f.get("mean_similarity"),
                             f["tokens"], f["tokens_per_second"]]
                            for name, f in ((n, gen[n]) for n in stages)]),
            "Safety scores of the written texts' sources and of the texts themselves:",
            markdown_table(["stage", "scores of"] + keys,
                   [[name, which] + [gen[name][f"{which}_scores"][k] for k in keys]
                    for name in stages for which in ("source", "generated")]),
            "SafeWeb templates: " + (", ".join(f"{t} {n}" for t, n in gen["templates"].items()) or "-")
            + f" · rows reused from checkpoints: {gen['reused_from_checkpoint']}",
            *(f"{name}: {why}" for name, why in (gen.get("off") or {}).items()),
        ]
    ngrams = card.get("ngrams")
    if ngrams:
        keys = list(ngrams["categories"])
        parts += [
            "## Harmful n-gram rates (hits per million tokens)",
            markdown_table(["slice", "documents", "tokens", *keys],
                   [[name, sl["documents"], sl["tokens"], *(sl["per_million"][k] for k in keys)]
                    for name, sl in ngrams["slices"].items()]),
        ]
    refl = card.get("reflections")
    if refl:
        parts += ["## Reflections", markdown_table(list(refl), [list(refl.values())])]
    return parts


EXAMPLE_BUCKETS = {("score 0" if low == high else f"scores {low}-{high}"): (low, high) for low, high in SCORE_BANDS}


def merge_examples(parts: list[dict], per_bucket: int) -> dict[str, list[dict]]:
    """The examples of consecutive parts of a shard as the examples of the whole: the first per bucket."""
    if not per_bucket:
        return {}
    return {name: [row for part in parts for row in part.get(name, [])][:per_bucket] for name in EXAMPLE_BUCKETS}


def examples(scored: pa.Table, per_bucket: int, chars: int) -> dict[str, list[dict]]:
    """The first `per_bucket` rows of each score bucket, text cut to `chars` characters."""
    found: dict[str, list[dict]] = {name: [] for name in EXAMPLE_BUCKETS}
    if not per_bucket:
        return {}
    for row_id, score, text in zip(scored["id"].to_pylist(), scored["safety_score"].to_pylist(),
                                   scored["text"].to_pylist(), strict=True):
        for name, (low, high) in EXAMPLE_BUCKETS.items():
            if score is not None and low <= score <= high and len(found[name]) < per_bucket:
                cut = text if len(text) <= chars else text[:chars].rstrip() + " [...]"
                found[name].append({"id": str(row_id), "safety_score": score, "text": cut})
    return found
