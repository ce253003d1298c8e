"""The training mixture: documents drawn from a curation output folder by source and weight.

Only committed shards (those with `_manifest/S.json`) are read; files are streamed a record batch at a
time. Every document has a key `source/id#copy`: it decides, seeded, the fractional part of a weight, the
train/validation split and the harmfulness tags, so the same config gives the same mixture anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curation.markers import HARM_TAG
from curation.seeds import unit
from training.config import TrainConfig
from training.tags import is_unsafe, tag_document

FOLDER = {"raw": "scored", "raw_tagged": "scored", "score0": "scored", "unsafe_tagged": "scored",
          "safeweb": "safeweb", "refuseweb": "refuseweb", "moral_education": "moral_education",
          "reflections": "reflections"}
"""Curation output folder each source reads."""
SCORED = {"raw", "raw_tagged", "score0", "unsafe_tagged"}


@dataclass(frozen=True)
class Document:
    source: str
    key: str
    """`source/id#copy`: unique within a mixture."""
    text: str
    score: int | None = None
    """The source document's safety_score (scored sources only)."""


def committed_shards(data_dir: Path) -> list[str]:
    """Stems of the shards curation committed into `data_dir`, sorted; an error when there are none."""
    stems = sorted(p.stem for p in (Path(data_dir) / "_manifest").glob("*.json"))
    if not stems:
        raise FileNotFoundError(f"{data_dir}: no committed shard (no _manifest/*.json); run `safecurate curate` first")
    return stems


def _rows(path: Path, columns: list[str]) -> Iterator[dict]:
    file = pq.ParquetFile(path)
    for batch in file.iter_batches(columns=columns, batch_size=1024):
        yield from batch.to_pylist()


def source_documents(data_dir: Path, source: str, cfg: TrainConfig) -> Iterator[Document]:
    """Each document of one source once, in shard order, tagged where the source says so."""
    tags = cfg.tags
    for stem in committed_shards(data_dir):
        path = Path(data_dir) / FOLDER[source] / f"{stem}.parquet"
        if not path.is_file():  # e.g. generation was off: the shard has no safeweb/
            continue
        columns = ["id", "text", "safety_score"] if source in SCORED else ["id", "text"]
        for row in _rows(path, columns):
            text, score = row["text"], row.get("safety_score")
            if not text:
                continue
            if source == "score0" and score != 0:
                continue
            if source == "unsafe_tagged" and not is_unsafe(score, tags.threshold):
                continue
            yield Document(source, f"{source}/{row['id']}", text, score)


def mixture_documents(data_dir: Path, cfg: TrainConfig) -> Iterator[Document]:
    """Every document of the mixture with its copies: `floor(weight)` each, plus one more with probability
    `weight - floor(weight)` (seeded by the document); tagged sources get fresh tags per copy."""
    for source, weight in cfg.mixture.items():
        whole, part = int(weight), weight - int(weight)
        for doc in source_documents(data_dir, source, cfg):
            copies = whole + (part > 0 and unit(cfg.seed, doc.key, "weight") < part)
            for copy in range(copies):
                key = f"{doc.key}#{copy}"
                text = doc.text
                if source in ("raw_tagged", "unsafe_tagged"):
                    text = tag_document(text, doc.score, key, threshold=cfg.tags.threshold, p=cfg.tags.p,
                                        seed=cfg.seed)
                yield Document(source, key, text, doc.score)


def is_validation(key: str, cfg: TrainConfig) -> bool:
    """Whether a document is held out for validation (by its key without the copy: copies stay together)."""
    return unit(cfg.seed, key.rsplit("#", 1)[0], "validation") < cfg.data.val_fraction


def mixture_report(data_dir: Path, cfg: TrainConfig, encode) -> dict:
    """Documents, tokens (separator included) and tags per source, train and validation apart."""
    sources: dict[str, dict] = {s: {"weight": w, "train_documents": 0, "train_tokens": 0, "validation_documents": 0,
                                    "validation_tokens": 0, "tags": 0} for s, w in cfg.mixture.items()}
    for doc in mixture_documents(data_dir, cfg):
        row = sources[doc.source]
        split = "validation" if is_validation(doc.key, cfg) else "train"
        row[f"{split}_documents"] += 1
        row[f"{split}_tokens"] += len(encode(doc.text)) + 1
        row["tags"] += doc.text.count(HARM_TAG)
    total = sum(row["train_tokens"] for row in sources.values())
    for row in sources.values():
        row["share"] = row["train_tokens"] / total if total else 0.0
    return {"data": str(data_dir), "shards": committed_shards(data_dir), "sources": sources, "train_tokens": total,
            "validation_tokens": sum(row["validation_tokens"] for row in sources.values())}


def write_report(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n")
