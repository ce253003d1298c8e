"""Committing a shard: scored/ and rejects/ tables, report card, then the manifest, each renamed into place."""

from __future__ import annotations

import hashlib
import json
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation import __version__
from curation.checkpoint import clean_checkpoint_temporaries, remove_checkpoints
from curation.config import Config
from curation.faults import fault_point
from curation.files import TMP_MARK
from curation.report import build_card, card_markdown
from curation.report_html import card_html
from curation.route import routes, safety_scores
from curation.shards import Shard, raw_values, row_ids, validate_texts
from curation.storage import Store, read_location

MANIFEST_VERSION = 1
GENERATED_DIRS = ("safeweb", "refuseweb", "moral_education", "reflections")
OUTPUT_DIRS = ("scored", "rejects", *GENERATED_DIRS, "reports", "_manifest")
GENERATED = {"safeweb": "safeweb", "refuseweb": "refuseweb", "moral_education": "moral"}
"""Generated output folder -> prefix of its columns in the score stream."""

SUFFIX = {"safeweb": "safeweb", "refuseweb": "refuseweb", "moral_education": "moral", "reflections": "reflections"}
"""Generated row id = source id + "#" + suffix."""
REJECT_SCHEMA = pa.schema([
    ("row_index", pa.int64()),
    ("id", pa.string()),
    ("stage", pa.string()),  # "input": an input row; else the generated output whose text failed the gates
    ("reason", pa.string()),
    ("text_preview", pa.string()),
])

# Score columns that come back from the model stages, per row.
SCORE_SCHEMA = pa.schema([
    ("shard", pa.string()),
    ("row_index", pa.int64()),
    ("reason", pa.string()),
    ("embed_score", pa.int64()),
    ("embed_unsafe", pa.float64()),
    ("tokens", pa.int64()),
    ("llm_score", pa.int64()),
    ("llm_reason", pa.string()),
    ("llm_confidence", pa.float64()),
    ("llm_invalid", pa.bool_()),
    ("seconds_embed", pa.float64()),
    ("seconds_llm", pa.float64()),
    ("reflection_text", pa.string()),
    ("reflection_segments", pa.int64()),
    ("reflection_unsafe", pa.int64()),
    ("template", pa.string()),
    *[field for prefix in GENERATED.values() for field in (
        (f"{prefix}_text", pa.string()),         # passed the gates
        (f"{prefix}_score", pa.int64()),         # safety score of the generated text
        (f"{prefix}_tokens", pa.int64()),        # tokens generated over every try
        (f"{prefix}_attempts", pa.int64()),
        (f"{prefix}_gate", pa.string()),         # why the last try failed, when none passed
        (f"{prefix}_failed_text", pa.string()),  # that try's text
        (f"seconds_{prefix}", pa.float64()),
    )],
    ("generation_reused", pa.bool_()),          # taken from a checkpoint of an earlier run
    ("seconds_generate", pa.float64()),
])


def clean_temporaries(store: Store) -> int:
    """Remove half-written files a killed run left behind in a local folder; they never carry a final name
    (object stores never show an object whose upload did not complete)."""
    if not store.local:
        return 0
    removed = 0
    for folder in OUTPUT_DIRS:
        for tmp in store.folder(folder).glob(f".*{TMP_MARK}*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed + clean_checkpoint_temporaries(store)


def manifest_path(stem: str) -> str:
    return f"_manifest/{stem}.json"


def file_digest(location: str) -> str:
    return hashlib.sha256(read_location(location)).hexdigest()


def is_committed(store: Store, shard: Shard, config_hash: str) -> bool:
    """True when the shard's manifest matches its input and config and its outputs exist."""
    try:
        manifest = json.loads(store.read_bytes(manifest_path(shard.stem)) or b"")
    except (OSError, ValueError):
        return False
    source = manifest.get("input", {})
    if manifest.get("config_hash") != config_hash or source.get("size") != shard.size:
        return False
    if source.get("mtime_ns") != shard.mtime_ns and source.get("sha256") != file_digest(shard.path):
        return False
    return all(store.exists(rel) for rel in manifest.get("outputs", {}).values())


def _preview(value, limit: int) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text[:limit]


def source_ids(shard: Shard, source: pa.Table, cfg: Config) -> pa.Array:
    """The rows' ids as strings (see `row_ids`)."""
    id_col = cfg.input.id_column
    column = source[id_col].combine_chunks() if id_col in source.column_names else None
    return pa.array(row_ids(shard.stem, column, source.num_rows), pa.string())


REJECTED_COLUMNS = ("reflection_text", *(f"{p}_{c}" for p in GENERATED.values() for c in ("text", "gate")))


def reject_duplicate_ids(scores: pa.Table, ids: pa.Array) -> pa.Table:
    """A valid row whose id an earlier valid row of the shard already has goes to rejects/ (`duplicate_id`) with
    none of its generated texts: ids stay unique in every output."""
    seen: set[str] = set()
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
    for name in REJECTED_COLUMNS:
        index = scores.schema.get_field_index(name)
        scores = scores.set_column(index, name, pc.if_else(mask, pa.scalar(None, scores[name].type), scores[name]))
    return scores


def split_outputs(shard: Shard, source: pa.Table, scores: pa.Table, cfg: Config) -> tuple[pa.Table, pa.Table]:
    """Join the model scores (sorted by row_index) onto the input rows: (scored table, rejects table)."""
    text_col, id_col = cfg.input.text_column, cfg.input.id_column
    if scores.num_rows != source.num_rows or (
        scores.num_rows and pc.any(pc.not_equal(scores["row_index"], pa.array(range(source.num_rows)))).as_py()
    ):
        raise RuntimeError(f"{shard.path}: got scores for {scores.num_rows} rows, the shard has {source.num_rows}")
    texts, _ = validate_texts(source[text_col].combine_chunks(), cfg.input)
    ids = source_ids(shard, source, cfg)
    rejected = scores["reason"].is_valid()
    kept = pc.invert(rejected)

    safety = safety_scores(scores["embed_score"], scores["llm_score"], scores["llm_confidence"], cfg)
    passthrough = [c for c in source.column_names if c not in (text_col, id_col)]
    columns = {
        "id": ids,
        "text": pa.array(texts, pa.string()),
        "safety_score": safety,
        "llm_score": scores["llm_score"],
        "llm_reason": scores["llm_reason"],
        "llm_confidence": scores["llm_confidence"],
        "embed_score": scores["embed_score"],
        "route": routes(safety, cfg),
        "tokens": scores["tokens"],
    }
    columns.update({c if c not in columns else f"input_{c}": source[c] for c in passthrough})  # keep clashing ones
    scored = pa.table(columns).filter(kept)

    limit = cfg.input.preview_chars
    previews = [_preview(v, limit) for v in raw_values(source[text_col].combine_chunks())]
    rejects = pa.table({
        "row_index": scores["row_index"],
        "id": ids,
        "stage": pa.array(["input"] * source.num_rows, pa.string()),
        "reason": scores["reason"],
        "text_preview": pa.array(previews, pa.string()),
    }, schema=REJECT_SCHEMA).filter(rejected)
    return scored, rejects


def generated_rejects(shard: Shard, ids: pa.Array, scores: pa.Table, cfg: Config) -> pa.Table:
    """Generated texts that failed the quality gates on every try: one reject row per text, with its stage."""
    source = ids
    parts = []
    for folder, prefix in GENERATED.items():
        failed = scores[f"{prefix}_gate"].is_valid()
        count = pc.sum(failed).as_py() or 0
        if not count:
            continue
        texts = scores[f"{prefix}_failed_text"].filter(failed).to_pylist()
        parts.append(pa.table({
            "row_index": scores["row_index"].filter(failed),
            "id": pa.array([f"{s}#{SUFFIX[folder]}" for s in source.filter(failed).to_pylist()], pa.string()),
            "stage": pa.array([folder] * count, pa.string()),
            "reason": pa.array([f"gate:{r}" for r in scores[f"{prefix}_gate"].filter(failed).to_pylist()],
                               pa.string()),
            "text_preview": pa.array([_preview(t, cfg.input.preview_chars) for t in texts], pa.string()),
        }, schema=REJECT_SCHEMA))
    return pa.concat_tables(parts) if parts else REJECT_SCHEMA.empty_table()


def generated_outputs(shard: Shard, ids: pa.Array, scores: pa.Table, cfg: Config) -> dict[str, pa.Table]:
    """SafeWeb, RefuseWeb, Moral Education and reflection rows, each pointing at its source row."""
    from curation.generate import substitute_speakers

    source = ids

    def rows(folder: str, column: str, **extra) -> pa.Table:
        keep = scores[column].is_valid()
        ids_ = source.filter(keep)
        table = {"id": pa.array([f"{s}#{SUFFIX[folder]}" for s in ids_.to_pylist()], pa.string()), "source_id": ids_}
        table.update({name: values.filter(keep) for name, values in extra.items()})
        table["text"] = scores[column].filter(keep)
        return pa.table(table)

    def generated(folder: str, **extra) -> pa.Table:
        prefix = GENERATED[folder]
        return rows(folder, f"{prefix}_text", **extra, safety_score=scores[f"{prefix}_score"],
                    tokens=scores[f"{prefix}_tokens"], attempts=scores[f"{prefix}_attempts"])

    refuse = generated("refuseweb")
    speakers = cfg.generation.speakers
    dialogues = [substitute_speakers(text, key, cfg.seed, speakers)
                 for text, key in zip(refuse["text"].to_pylist(), refuse["source_id"].to_pylist(), strict=True)]
    refuse = refuse.rename_columns([*refuse.column_names[:-1], "original_text"]).append_column(
        "text", pa.array(dialogues, pa.string()))
    return {
        "safeweb": generated("safeweb", template=scores["template"]),
        "refuseweb": refuse,
        "moral_education": generated("moral_education"),
        "reflections": rows("reflections", "reflection_text", segments=scores["reflection_segments"],
                            unsafe_segments=scores["reflection_unsafe"]),
    }


def commit_shard(shard: Shard, scores: pa.Table, cfg: Config, out: str) -> dict:
    """Write every output of one shard under a temporary name, rename into place, manifest last."""
    started = time.time()
    store = Store(out)
    data = read_location(shard.path)  # read once: the rows and the digest recorded in the manifest
    source = pq.read_table(pa.BufferReader(data))
    scores = scores.sort_by("row_index")  # split_outputs and generated_outputs align rows by position
    ids = source_ids(shard, source, cfg)
    if scores.num_rows == source.num_rows:
        scores = reject_duplicate_ids(scores, ids)
    scored, rejects = split_outputs(shard, source, scores, cfg)
    generated = generated_outputs(shard, ids, scores, cfg)
    rejects = pa.concat_tables([rejects, generated_rejects(shard, ids, scores, cfg)])
    card = build_card(shard, scored, rejects, scores, cfg, generated)
    if cfg.report.ngrams:
        from curation.ngrams import ngram_card, shard_slices

        card["ngrams"] = ngram_card(shard_slices(scored, generated), cfg.report.ngram_lists)
    outputs = {
        "scored": f"scored/{shard.stem}.parquet",
        "rejects": f"rejects/{shard.stem}.parquet",
        **{name: f"{name}/{shard.stem}.parquet" for name in GENERATED_DIRS},
        "report_json": f"reports/{shard.stem}.json",
        "report_md": f"reports/{shard.stem}.md",
        "report_html": f"reports/{shard.stem}.html",
    }
    store.make_folders(*OUTPUT_DIRS)
    store.write_parquet(outputs["scored"], scored)
    store.write_parquet(outputs["rejects"], rejects)
    for name, table in generated.items():
        store.write_parquet(outputs[name], table)
    fault_point("commit.outputs_written")
    card["seconds"]["commit"] = round(time.time() - started, 3)
    store.write_bytes(outputs["report_json"], (json.dumps(card, indent=2) + "\n").encode())
    store.write_bytes(outputs["report_md"], card_markdown(card).encode())
    store.write_bytes(outputs["report_html"], card_html(card).encode())
    manifest = {
        "schema_version": MANIFEST_VERSION,
        "shard": shard.stem,
        "input": {"path": shard.path, "size": shard.size, "mtime_ns": shard.mtime_ns,
                  "sha256": hashlib.sha256(data).hexdigest(), "rows": shard.num_rows},
        "config_hash": cfg.content_hash(),
        "config": cfg.model_dump(mode="json"),
        "counts": card["rows"],
        "routes": card["routes"],
        "generation_reused": (card["generation"] or {}).get("reused_from_checkpoint", 0),
        "outputs": outputs,
        "seconds": round(sum(card["seconds"].values()), 3),
        "safecurate_version": __version__,
        "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    store.write_bytes(manifest_path(shard.stem), (json.dumps(manifest, indent=2) + "\n").encode(),
                      before_rename=lambda: fault_point("commit.manifest_temp"))
    remove_checkpoints(store, shard.stem)  # committed: the final outputs hold every generated row
    return manifest
