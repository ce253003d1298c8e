"""A shard's output tables, built one row group at a time from its input rows and their score rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Config
from curation.generation.generator import substitute_speakers
from curation.io.shards import Shard, raw_values, row_ids, validate_texts
from curation.schema import (
    DUPLICATE_CLEARED,
    GENERATION_KINDS,
    PREFIX,
    REFLECTIONS,
    REFUSEWEB,
    REJECT_SCHEMA,
    SAFEWEB,
    SUFFIX,
    TEXT_COLUMNS,
)


def _preview(value, limit: int) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text[:limit]


def source_ids(shard: Shard, source: pa.Table, cfg: Config, offset: int = 0) -> pa.Array:
    """The rows' ids as strings (see `row_ids`); `offset`: the shard position of the table's first row."""
    id_col = cfg.input.id_column
    column = source[id_col].combine_chunks() if id_col in source.column_names else None
    return pa.array(row_ids(shard.stem, column, source.num_rows, offset), pa.string())


def check_scores(shard: Shard, scores: pa.Table, start: int, count: int) -> None:
    """Scores (sorted by row_index) must be exactly rows start .. start + count - 1."""
    expected = pa.array(range(start, start + count), pa.int64())
    if scores.num_rows != count or (count and not scores["row_index"].combine_chunks().equals(expected)):
        raise RuntimeError(f"{shard.path}: got {scores.num_rows} score rows for the {count} rows from {start}")


def reject_duplicate_ids(scores: pa.Table, ids: pa.Array, seen: set[str]) -> pa.Table:
    """A valid row whose id an earlier valid row of the shard already has (`seen`, updated) goes to rejects/
    (`duplicate_id`) with none of its generated texts: ids stay unique in every output."""
    reasons = scores["reason"].to_pylist()
    duplicate = [False] * len(reasons)
    for i, (key, reason) in enumerate(zip(ids.to_pylist(), reasons, strict=True)):
        if reason is None:
            duplicate[i] = key in seen
            seen.add(key)
    if not any(duplicate):
        return scores
    mask = pa.array(duplicate)
    scores = scores.set_column(scores.schema.get_field_index("reason"), "reason",
                               pc.if_else(mask, pa.scalar("duplicate_id"), scores["reason"]))
    for name in DUPLICATE_CLEARED:
        index = scores.schema.get_field_index(name)
        scores = scores.set_column(index, name, pc.if_else(mask, pa.scalar(None, scores[name].type), scores[name]))
    return scores


def split_outputs(source: pa.Table, scores: pa.Table, cfg: Config, ids: pa.Array) -> tuple[pa.Table, pa.Table]:
    """Join the model scores (checked by `check_scores`) onto the input rows with their `ids`: (scored table,
    rejects table)."""
    text_col, id_col = cfg.input.text_column, cfg.input.id_column
    texts, _ = validate_texts(source[text_col].combine_chunks(), cfg.input)
    rejected = scores["reason"].is_valid()
    passthrough = [c for c in source.column_names if c not in (text_col, id_col)]
    columns = {
        "id": ids,
        "text": pa.array(texts, pa.string()),
        "safety_score": scores["safety_score"],
        "safety_prob": pc.round(scores["embed_prob"], 4),
        "llm_score": scores["llm_score"],
        "llm_reason": scores["llm_reason"],
        "llm_confidence": scores["llm_confidence"],
        "embed_score": scores["embed_score"],
        "route": scores["route"],
        "tokens": scores["tokens"],
    }
    columns.update({c if c not in columns else f"input_{c}": source[c] for c in passthrough})  # keep clashing ones
    scored = pa.table(columns).filter(pc.invert(rejected))

    previews = [_preview(v, cfg.input.preview_chars) for v in raw_values(source[text_col].combine_chunks())]
    rejects = pa.table({
        "row_index": scores["row_index"],
        "id": ids,
        "stage": pa.array(["input"] * source.num_rows, pa.string()),
        "reason": scores["reason"],
        "text_preview": pa.array(previews, pa.string()),
    }, schema=REJECT_SCHEMA).filter(rejected)
    return scored, rejects


def _generated_id(ids: pa.Array, folder: str) -> pa.Array:
    return pa.array([f"{s}#{SUFFIX[folder]}" for s in ids.to_pylist()], pa.string())


def generated_rejects(ids: pa.Array, scores: pa.Table, cfg: Config) -> pa.Table:
    """Generated texts that failed the quality gates on every try, and reflections that failed: one reject row
    each, with its stage."""
    parts = []
    for kind in GENERATION_KINDS:
        prefix = PREFIX[kind]
        failed = scores[f"{prefix}_gate"].is_valid()
        count = pc.sum(failed).as_py() or 0
        if not count:
            continue
        texts = scores[f"{prefix}_failed_text"].filter(failed).to_pylist()
        parts.append(pa.table({
            "row_index": scores["row_index"].filter(failed),
            "id": _generated_id(ids.filter(failed), kind),
            "stage": pa.array([kind] * count, pa.string()),
            "reason": pa.array([f"gate:{r}" for r in scores[f"{prefix}_gate"].filter(failed).to_pylist()],
                               pa.string()),
            "text_preview": pa.array([_preview(t, cfg.input.preview_chars) for t in texts], pa.string()),
        }, schema=REJECT_SCHEMA))
    failed = scores["reflection_error"].is_valid()
    if count := pc.sum(failed).as_py() or 0:
        parts.append(pa.table({
            "row_index": scores["row_index"].filter(failed),
            "id": _generated_id(ids.filter(failed), REFLECTIONS),
            "stage": pa.array([REFLECTIONS] * count, pa.string()),
            "reason": scores["reflection_error"].filter(failed),
            "text_preview": pa.nulls(count, pa.string()),
        }, schema=REJECT_SCHEMA))
    return pa.concat_tables(parts) if parts else REJECT_SCHEMA.empty_table()


def _rows(folder: str, column: str, ids: pa.Array, scores: pa.Table, **extra) -> pa.Table:
    """One generated output: a row per source row whose `column` holds a text."""
    keep = scores[column].is_valid()
    table = {"id": _generated_id(ids.filter(keep), folder), "source_id": ids.filter(keep)}
    table.update({name: values.filter(keep) for name, values in extra.items()})
    table["text"] = scores[column].filter(keep)
    return pa.table(table)


def _generated(kind: str, ids: pa.Array, scores: pa.Table, **extra) -> pa.Table:
    prefix = PREFIX[kind]
    return _rows(kind, f"{prefix}_text", ids, scores, **extra, safety_score=scores[f"{prefix}_score"],
                 tokens=scores[f"{prefix}_tokens"], attempts=scores[f"{prefix}_attempts"])


def generated_outputs(ids: pa.Array, scores: pa.Table, cfg: Config) -> dict[str, pa.Table]:
    """SafeWeb, RefuseWeb, Moral Education and reflection rows, each pointing at its source row."""
    outputs = {kind: _generated(kind, ids, scores, **({"template": scores["template"]} if kind == SAFEWEB else {}))
               for kind in GENERATION_KINDS}
    refuse = outputs[REFUSEWEB]
    dialogues = [substitute_speakers(text, key, cfg.seed, cfg.generation.speakers)
                 for text, key in zip(refuse["text"].to_pylist(), refuse["source_id"].to_pylist(), strict=True)]
    outputs[REFUSEWEB] = refuse.rename_columns([*refuse.column_names[:-1], "original_text"]).append_column(
        "text", pa.array(dialogues, pa.string()))
    outputs[REFLECTIONS] = _rows(REFLECTIONS, "reflection_text", ids, scores,
                                 segments=scores["reflection_segments"], unsafe_segments=scores["reflection_unsafe"])
    return outputs


def light_scores(scores: pa.Table) -> pa.Table:
    """What the card needs of the score rows: every column, with texts reduced to whether they are there."""
    for name in TEXT_COLUMNS:
        index = scores.schema.get_field_index(name)
        scores = scores.set_column(index, name, pc.if_else(scores[name].is_valid(), pa.scalar(""),
                                                             pa.scalar(None, pa.string())))
    return scores
