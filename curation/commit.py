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
from curation.report import CARD_SCORED_COLUMNS, build_card, card_markdown, examples, merge_examples
from curation.report_html import card_html
from curation.route import routes, safety_scores
from curation.shards import Shard, raw_values, row_ids, validate_texts
from curation.storage import PendingParquet, Store, open_input

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
    ("embed_prob", pa.float64()),  # the embedding classifier's P(score >= 2)
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
    """Remove the hidden temporaries a killed run left behind; they never carry a final name."""
    from curation.spill import SPILL_DIR

    removed = sum(store.clean_temporaries(folder) for folder in (*OUTPUT_DIRS, SPILL_DIR))
    return removed + (clean_checkpoint_temporaries(store) if store.local else 0)


def manifest_path(stem: str) -> str:
    return f"_manifest/{stem}.json"


def file_digest(location: str) -> str:
    digest = hashlib.sha256()
    with open_input(location) as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


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


def source_ids(shard: Shard, source: pa.Table, cfg: Config, offset: int = 0) -> pa.Array:
    """The rows' ids as strings (see `row_ids`); `offset`: the shard position of the table's first row."""
    id_col = cfg.input.id_column
    column = source[id_col].combine_chunks() if id_col in source.column_names else None
    return pa.array(row_ids(shard.stem, column, source.num_rows, offset), pa.string())


REJECTED_COLUMNS = ("reflection_text", *(f"{p}_{c}" for p in GENERATED.values() for c in ("text", "gate")))


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
    for name in REJECTED_COLUMNS:
        index = scores.schema.get_field_index(name)
        scores = scores.set_column(index, name, pc.if_else(mask, pa.scalar(None, scores[name].type), scores[name]))
    return scores


def check_scores(shard: Shard, scores: pa.Table, start: int, count: int) -> None:
    """Scores (sorted by row_index) must be exactly rows start .. start + count - 1."""
    expected = pa.array(range(start, start + count), pa.int64())
    if scores.num_rows != count or (count and not scores["row_index"].combine_chunks().equals(expected)):
        raise RuntimeError(f"{shard.path}: got {scores.num_rows} score rows for the {count} rows from {start}")


def split_outputs(shard: Shard, source: pa.Table, scores: pa.Table, cfg: Config,
                  ids: pa.Array) -> tuple[pa.Table, pa.Table]:
    """Join the model scores (checked by `check_scores`) onto the input rows with their `ids`: (scored table,
    rejects table)."""
    text_col, id_col = cfg.input.text_column, cfg.input.id_column
    texts, _ = validate_texts(source[text_col].combine_chunks(), cfg.input)
    rejected = scores["reason"].is_valid()
    kept = pc.invert(rejected)

    safety = safety_scores(scores["embed_score"], scores["llm_score"], scores["llm_confidence"], cfg)
    passthrough = [c for c in source.column_names if c not in (text_col, id_col)]
    columns = {
        "id": ids,
        "text": pa.array(texts, pa.string()),
        "safety_score": safety,
        "safety_prob": pc.round(scores["embed_prob"], 4),
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


TEXT_COLUMNS = ("reflection_text", *(f"{p}_{c}" for p in GENERATED.values() for c in ("text", "failed_text")))


def _light_scores(scores: pa.Table) -> pa.Table:
    """What the card needs of the score rows: every column, with texts reduced to whether they are there."""
    for name in TEXT_COLUMNS:
        index = scores.schema.get_field_index(name)
        scores = scores.set_column(index, name, pc.if_else(scores[name].is_valid(), pa.scalar(""),
                                                             pa.scalar(None, pa.string())))
    return scores


class _Outputs:
    """The shard's output tables, each a PendingParquet opened with its first row group's schema; `commit()`
    gives them their final names, `abort()` removes them."""

    def __init__(self, store: Store, paths: dict[str, str]):
        self.store, self.paths = store, paths
        self.files: dict[str, PendingParquet] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.files:
            self.files[name] = PendingParquet(self.store, self.paths[name], table.schema)
        self.files[name].write(table)

    def commit(self) -> None:
        for file in self.files.values():
            file.commit()

    def abort(self) -> None:
        for file in self.files.values():
            file.abort()


def commit_shard(shard: Shard, cfg: Config, out: str) -> dict:
    """Write every output of one shard under a temporary name, rename into place, manifest last.

    The shard is read one row group at a time, with the score rows of that row group from the shard's score
    spill; only what the report card counts (scores without texts) is kept across row groups."""
    from curation.spill import ScoreReader, spill_path

    started = time.time()
    store = Store(out)
    outputs = {
        "scored": f"scored/{shard.stem}.parquet",
        "rejects": f"rejects/{shard.stem}.parquet",
        **{name: f"{name}/{shard.stem}.parquet" for name in GENERATED_DIRS},
        "report_json": f"reports/{shard.stem}.json",
        "report_md": f"reports/{shard.stem}.md",
        "report_html": f"reports/{shard.stem}.html",
    }
    store.make_folders(*OUTPUT_DIRS)
    reader = ScoreReader(store, shard.stem)
    tables = _Outputs(store, outputs)
    light: dict[str, list[pa.Table]] = {"scored": [], "rejects": [], "scores": [], "reflections": []}
    found_examples: list[dict] = []
    ngram_parts: list[dict] = []
    seen: set[str] = set()
    try:
        with open_input(shard.path) as handle:
            source_file = pq.ParquetFile(handle)
            groups = range(source_file.num_row_groups) if source_file.metadata.num_rows else []
            chunks = ((source_file.read_row_group(g) for g in groups) if groups
                      else [source_file.schema_arrow.empty_table()])
            offset = 0
            for source in chunks:
                scores = reader.rows(offset, offset + source.num_rows)
                check_scores(shard, scores, offset, source.num_rows)
                ids = source_ids(shard, source, cfg, offset)
                scores = reject_duplicate_ids(scores, ids, seen)
                scored, rejects = split_outputs(shard, source, scores, cfg, ids)
                generated = generated_outputs(shard, ids, scores, cfg)
                rejects = pa.concat_tables([rejects, generated_rejects(shard, ids, scores, cfg)])
                tables.write("scored", scored)
                tables.write("rejects", rejects)
                for name, table in generated.items():
                    tables.write(name, table)
                light["scored"].append(scored.select(CARD_SCORED_COLUMNS))
                light["rejects"].append(rejects.select(["stage", "reason"]))
                light["scores"].append(_light_scores(scores))
                light["reflections"].append(generated["reflections"].select(["segments", "unsafe_segments"]))
                found_examples.append(examples(scored, cfg.report.examples, cfg.report.example_chars))
                if cfg.report.ngrams:
                    from curation.ngrams import ngram_card, shard_slices

                    ngram_parts.append(ngram_card(shard_slices(scored, generated), cfg.report.ngram_lists))
                offset += source.num_rows
        tables.commit()
    except BaseException:
        tables.abort()
        raise
    fault_point("commit.outputs_written")
    card = build_card(shard, *(pa.concat_tables(light[k]) for k in ("scored", "rejects", "scores")), cfg,
                      {"reflections": pa.concat_tables(light["reflections"])},
                      found_examples=merge_examples(found_examples, cfg.report.examples))
    if cfg.report.ngrams:
        from curation.ngrams import merge_ngram_cards

        card["ngrams"] = merge_ngram_cards(ngram_parts)
    card["seconds"]["commit"] = round(time.time() - started, 3)
    store.write_bytes(outputs["report_json"], (json.dumps(card, indent=2) + "\n").encode())
    store.write_bytes(outputs["report_md"], card_markdown(card).encode())
    store.write_bytes(outputs["report_html"], card_html(card).encode())
    manifest = {
        "schema_version": MANIFEST_VERSION,
        "shard": shard.stem,
        "input": {"path": shard.path, "size": shard.size, "mtime_ns": shard.mtime_ns,
                  "sha256": file_digest(shard.path), "rows": shard.num_rows},
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
    store.delete(spill_path(shard.stem))
    return manifest
