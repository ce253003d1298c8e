"""Committing a shard: scored/ and rejects/ tables, generated outputs, report card, then the manifest, each
written under a temporary name and renamed into place; the manifest last, so a shard is committed or not."""

from __future__ import annotations

import hashlib
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq

from curation import __version__
from curation.config import Config
from curation.faults import fault_point
from curation.io.checkpoints import clean_checkpoint_temporaries, remove_checkpoints
from curation.io.shards import Shard
from curation.io.spill import SPILL_DIR, ScoreReader, spill_path
from curation.io.storage import PendingParquet, Store, open_input
from curation.report.card import CARD_SCORED_COLUMNS, build_card, card_markdown, examples, merge_examples
from curation.report.html import card_html
from curation.run.outputs import (
    check_scores,
    generated_outputs,
    generated_rejects,
    light_scores,
    reject_duplicate_ids,
    source_ids,
    split_outputs,
)
from curation.schema import GENERATED_DIRS, OUTPUT_DIRS, REFLECTIONS

MANIFEST_VERSION = 1


def clean_temporaries(store: Store) -> int:
    """Remove the hidden temporaries a killed run left behind; they never carry a final name."""
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


def output_paths(stem: str) -> dict[str, str]:
    return {
        "scored": f"scored/{stem}.parquet",
        "rejects": f"rejects/{stem}.parquet",
        **{name: f"{name}/{stem}.parquet" for name in GENERATED_DIRS},
        "report_json": f"reports/{stem}.json",
        "report_md": f"reports/{stem}.md",
        "report_html": f"reports/{stem}.html",
    }


class ShardOutputs:
    """The shard's output tables, each a PendingParquet opened with its first row group's schema, and what the
    card needs of them; `commit()` gives the tables their final names, `abort()` removes them."""

    def __init__(self, store: Store, paths: dict[str, str], cfg: Config):
        self.store, self.paths, self.cfg = store, paths, cfg
        self.files: dict[str, PendingParquet] = {}
        self.light: dict[str, list[pa.Table]] = {"scored": [], "rejects": [], "scores": [], REFLECTIONS: []}
        self.examples: list[dict] = []
        self.ngrams: list[dict] = []

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.files:
            self.files[name] = PendingParquet(self.store, self.paths[name], table.schema)
        self.files[name].write(table)

    def add(self, scored: pa.Table, rejects: pa.Table, scores: pa.Table, generated: dict[str, pa.Table]) -> None:
        """One row group's outputs: written, and counted for the card."""
        self.write("scored", scored)
        self.write("rejects", rejects)
        for name, table in generated.items():
            self.write(name, table)
        report = self.cfg.report
        self.light["scored"].append(scored.select(CARD_SCORED_COLUMNS))
        self.light["rejects"].append(rejects.select(["stage", "reason"]))
        self.light["scores"].append(light_scores(scores))
        self.light[REFLECTIONS].append(generated[REFLECTIONS].select(["segments", "unsafe_segments"]))
        self.examples.append(examples(scored, report.examples, report.example_chars))
        if report.ngrams:
            from curation.report.ngrams import ngram_card, shard_slices

            self.ngrams.append(ngram_card(shard_slices(scored, generated), report.ngram_lists))

    def commit(self) -> None:
        for file in self.files.values():
            file.commit()

    def abort(self) -> None:
        for file in self.files.values():
            file.abort()

    def card(self, shard: Shard) -> dict:
        """The shard's report card from what `add` counted."""
        light = {name: pa.concat_tables(parts) for name, parts in self.light.items()}
        card = build_card(shard, light["scored"], light["rejects"], light["scores"], self.cfg,
                          {REFLECTIONS: light[REFLECTIONS]},
                          found_examples=merge_examples(self.examples, self.cfg.report.examples))
        if self.cfg.report.ngrams:
            from curation.report.ngrams import merge_ngram_cards

            card["ngrams"] = merge_ngram_cards(self.ngrams)
        return card


def write_tables(shard: Shard, cfg: Config, store: Store, outputs: ShardOutputs) -> None:
    """Read the shard one row group at a time with that row group's score rows from the shard's spill, and
    write its output tables; only what the card counts (scores without texts) is kept across row groups."""
    reader = ScoreReader(store, shard.stem)
    seen: set[str] = set()
    with open_input(shard.path) as handle:
        source_file = pq.ParquetFile(handle)
        groups = range(source_file.num_row_groups) if source_file.metadata.num_rows else []
        chunks = (source_file.read_row_group(g) for g in groups) if groups else [source_file.schema_arrow.empty_table()]
        offset = 0
        for source in chunks:
            scores = reader.rows(offset, offset + source.num_rows)
            check_scores(shard, scores, offset, source.num_rows)
            ids = source_ids(shard, source, cfg, offset)
            scores = reject_duplicate_ids(scores, ids, seen)
            scored, rejects = split_outputs(source, scores, cfg, ids)
            rejects = pa.concat_tables([rejects, generated_rejects(ids, scores, cfg)])
            outputs.add(scored, rejects, scores, generated_outputs(ids, scores, cfg))
            offset += source.num_rows


def write_card(store: Store, paths: dict[str, str], card: dict) -> None:
    store.write_bytes(paths["report_json"], (json.dumps(card, indent=2) + "\n").encode())
    store.write_bytes(paths["report_md"], card_markdown(card).encode())
    store.write_bytes(paths["report_html"], card_html(card).encode())


def manifest(shard: Shard, cfg: Config, card: dict, paths: dict[str, str]) -> dict:
    return {
        "schema_version": MANIFEST_VERSION,
        "shard": shard.stem,
        "input": {"path": shard.path, "size": shard.size, "mtime_ns": shard.mtime_ns,
                  "sha256": file_digest(shard.path), "rows": shard.num_rows},
        "config_hash": cfg.content_hash(),
        "config": cfg.model_dump(mode="json"),
        "counts": card["rows"],
        "routes": card["routes"],
        "generation_reused": (card["generation"] or {}).get("reused_from_checkpoint", 0),
        "outputs": paths,
        "seconds": round(sum(card["seconds"].values()), 3),
        "safecurate_version": __version__,
        "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def commit_shard(shard: Shard, cfg: Config, out: str) -> dict:
    """Write every output of one shard under a temporary name, rename into place, manifest last; the manifest."""
    started = time.time()
    store = Store(out)
    paths = output_paths(shard.stem)
    store.make_folders(*OUTPUT_DIRS)
    outputs = ShardOutputs(store, paths, cfg)
    try:
        write_tables(shard, cfg, store, outputs)
        outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    fault_point("commit.outputs_written")
    card = outputs.card(shard)
    card["seconds"]["commit"] = round(time.time() - started, 3)
    write_card(store, paths, card)
    record = manifest(shard, cfg, card, paths)
    store.write_bytes(manifest_path(shard.stem), (json.dumps(record, indent=2) + "\n").encode(),
                      before_rename=lambda: fault_point("commit.manifest_temp"))
    remove_checkpoints(store, shard.stem)  # committed: the final outputs hold every generated row
    store.delete(spill_path(shard.stem))
    return record
