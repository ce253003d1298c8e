"""Harmful n-gram rates for the report card: each category's queries counted per slice with infini-gram.

A slice (the raw documents of one score bucket, or one generated output of a shard) is tokenized with
the project's tokenizer (SmolLM2's), written in the layout infini-gram's indexer reads (`tokenized.0`:
each document as `\\xff\\xff` then uint16 token ids; `offset.0`: uint64 byte offsets of the documents),
indexed with `python -m infini_gram.indexing` (a suffix array), and every query counted as an exact
token sequence. Text is counted with its whitespace runs as single spaces and a space in front, and
a query in its two spellings ` query` and ` Query`; hits of a category are the sum over its queries,
reported per million tokens of the slice.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from curation.schema import GENERATION_KINDS, SCORE_BANDS

LISTS = Path(__file__).parents[1] / "data" / "harmful_ngrams.json"
DOC_SEPARATOR = b"\xff\xff"
TOKEN_ID_LIMIT = 0xFFFF
"""u16 tokens; 0xFFFF is the document separator, so the vocabulary must stay below it."""
SMALL_INDEX_BYTES = 100_000
"""Below this many bytes per CPU the indexer's parallel suffix-array build came out corrupt: use one CPU."""
OPEN_FILES = 1024
"""The indexer raises its open-file limit to this (its default is above this machine's hard limit)."""


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    queries: tuple[str, ...]
    token_ids: tuple[tuple[int, ...], ...]
    """Every spelling of every query, as token ids."""


def spellings(query: str) -> list[str]:
    """The mid-sentence spellings counted for one query: lowercase and with a capital first letter."""
    return list(dict.fromkeys([" " + query, " " + query[:1].upper() + query[1:]]))


class ProjectTokenizer:
    """SmolLM2's tokenizer (`tokenizer.json` of the packaged model) through the `tokenizers` library: loads in
    well under a second, where transformers' AutoTokenizer first imports for seconds in every commit worker."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self.eos_token_id = self._tokenizer.token_to_id("<|endoftext|>") or 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids


@lru_cache(maxsize=1)
def project_tokenizer() -> ProjectTokenizer:
    """SmolLM2's tokenizer, from the packaged model (no hub access)."""
    from curation.models.packaged import packaged_chat_model_dir

    tokenizer = ProjectTokenizer(packaged_chat_model_dir() / "tokenizer.json")
    if tokenizer.vocab_size >= TOKEN_ID_LIMIT:
        raise ValueError(f"vocabulary of {tokenizer.vocab_size} does not fit u16 tokens with a separator")
    return tokenizer


def load_categories(tokenizer, path: Path = LISTS) -> list[Category]:
    data = json.loads(Path(path).read_text())
    categories = []
    for key, entry in data["categories"].items():
        queries = tuple(entry["queries"])
        ids = tuple(dict.fromkeys(tuple(tokenizer.encode(s, add_special_tokens=False))
                                  for q in queries for s in spellings(q)))
        categories.append(Category(key, entry["label"], queries, ids))
    return categories


def counting_form(text: str) -> str:
    """Text as it is counted: whitespace runs as one space, and a space before the first word, so that a
    query at the start of a document or after a line break is the same token sequence as mid-sentence."""
    return " " + " ".join(text.split())


def tokenize(tokenizer, texts: list[str]) -> list[np.ndarray]:
    return [np.asarray(tokenizer.encode(counting_form(t), add_special_tokens=False), dtype=np.uint16)
            for t in texts]


def write_corpus(docs: list[np.ndarray], folder: Path) -> int:
    """The indexer's input files for `docs`; returns the corpus size in bytes."""
    offsets, position = [], 0
    with open(folder / "tokenized.0", "wb") as data:
        for doc in docs:
            offsets.append(position)
            chunk = DOC_SEPARATOR + doc.astype("<u2").tobytes()
            data.write(chunk)
            position += len(chunk)
    np.asarray(offsets, dtype="<u8").tofile(folder / "offset.0")
    return position


def build_index(docs: list[np.ndarray], folder: Path, cpus: int = 1) -> Path:
    """An infini-gram index (suffix array) over `docs` in `folder` (made absolute: the indexer needs it)."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    size = write_corpus(docs, folder)
    cpus = max(1, min(cpus, size // SMALL_INDEX_BYTES))
    command = [sys.executable, "-m", "infini_gram.indexing", "--data_dir", str(folder), "--save_dir", str(folder),
               "--token_dtype", "u16", "--cpus", str(cpus), "--mem", "1", "--ulimit", str(OPEN_FILES)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not (folder / "table.0").exists():
        raise RuntimeError(f"infini-gram indexing failed ({done.returncode}): {(done.stdout + done.stderr)[-500:]}")
    return folder


def count_with_index(folder: Path, categories: list[Category], eos_token_id: int) -> dict[str, int]:
    """Hits per category: the sum of every spelling's count in the index."""
    from infini_gram.engine import InfiniGramEngine

    engine = InfiniGramEngine(index_dir=str(folder), eos_token_id=eos_token_id, version=4, token_dtype="u16")
    hits = {}
    for category in categories:
        total = 0
        for ids in category.token_ids:
            result = engine.count(input_ids=list(ids))
            if "error" in result:
                raise RuntimeError(f"infini-gram count of {ids}: {result['error']}")
            total += result["count"]
        hits[category.key] = total
    return hits


def count_brute_force(docs: list[np.ndarray], categories: list[Category]) -> dict[str, int]:
    """The same counts by sliding over every document in Python (for checking the index)."""
    from collections import Counter

    lengths = {len(ids) for c in categories for ids in c.token_ids}
    seen: Counter = Counter()
    for doc in docs:
        tokens = tuple(doc.tolist())
        for n in lengths:
            seen.update(tokens[i:i + n] for i in range(len(tokens) - n + 1))
    return {c.key: sum(seen[ids] for ids in c.token_ids) for c in categories}


def slice_rates(texts: list[str], categories: list[Category], tokenizer, workdir: Path | None = None) -> dict:
    """Documents, tokens, hits and hits per million tokens per category, for one slice of text."""
    docs = [d for d in tokenize(tokenizer, texts) if len(d)]
    tokens = int(sum(len(d) for d in docs))
    if not tokens:
        hits = dict.fromkeys((c.key for c in categories), 0)
    else:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            hits = count_with_index(build_index(docs, Path(tmp)), categories, tokenizer.eos_token_id)
    return {
        "documents": len(texts),
        "tokens": tokens,
        "hits": hits,
        "per_million": {k: round(v * 1e6 / tokens, 2) if tokens else 0.0 for k, v in hits.items()},
    }


SCORE_BUCKETS = {(f"raw_{low}" if low == high else f"raw_{low}_{high}"): (low, high) for low, high in SCORE_BANDS}
"""Raw-text slices of a shard by safety score."""


def shard_slices(scored, generated: dict) -> dict[str, list[str]]:
    """The texts of each slice of a shard: raw documents by score bucket, then each generated output."""
    scores, texts = scored["safety_score"].to_pylist(), scored["text"].to_pylist()
    slices = {name: [t for t, s in zip(texts, scores, strict=True) if s is not None and low <= s <= high]
              for name, (low, high) in SCORE_BUCKETS.items()}
    slices.update({name: generated[name]["text"].to_pylist() for name in GENERATION_KINDS if name in generated})
    return slices


def ngram_card(slices: dict[str, list[str]], lists: str | None = None) -> dict:
    """The card's n-gram section: per slice, tokens and hits / hits per million tokens per category."""
    import time

    started = time.perf_counter()
    tokenizer = project_tokenizer()
    categories = load_categories(tokenizer, Path(lists) if lists else LISTS)
    return {
        "categories": {c.key: c.label for c in categories},
        "queries": sum(len(c.queries) for c in categories),
        "tokenizer": "SmolLM2 (packaged)",
        "slices": {name: slice_rates(texts, categories, tokenizer) for name, texts in slices.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }


def merge_slices(cards: list[dict]) -> dict[str, dict]:
    """The slices of several n-gram sections (of disjoint documents) as one: documents, tokens and hits added,
    hits per million recomputed from the sums."""
    slices: dict[str, dict] = {}
    for card in cards:
        for name, part in card["slices"].items():
            total = slices.setdefault(name, {"documents": 0, "tokens": 0, "hits": {}})
            total["documents"] += part["documents"]
            total["tokens"] += part["tokens"]
            for key, hits in part["hits"].items():
                total["hits"][key] = total["hits"].get(key, 0) + hits
    for total in slices.values():
        tokens = total["tokens"]
        total["per_million"] = {k: round(v * 1e6 / tokens, 2) if tokens else 0.0 for k, v in total["hits"].items()}
    return slices


def merge_ngram_cards(cards: list[dict]) -> dict:
    """One shard's n-gram section from the sections of its row groups."""
    return {**cards[0], "slices": merge_slices(cards), "seconds": round(sum(c["seconds"] for c in cards), 3)}
