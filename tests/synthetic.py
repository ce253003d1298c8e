"""Test data written directly: curation output folders, and a synthetic corpus of requests continued by
safe or unsafe word families (for training with tags and for Safe Beam Search)."""

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_curated(out: Path, stem: str, scored: list[tuple[str, str, int]],
                  generated: dict[str, list[str]] | None = None, commit: bool = True) -> Path:
    """A curation output folder written directly. scored: (id, text, safety_score) rows; generated: folder ->
    texts (safeweb, refuseweb, ...). The shard's manifest is written if `commit`."""
    (out / "scored").mkdir(parents=True, exist_ok=True)
    ids, texts, scores = zip(*scored, strict=True) if scored else ((), (), ())
    pq.write_table(pa.table({"id": list(ids), "text": list(texts), "safety_score": pa.array(scores, pa.int8())}),
                   out / "scored" / f"{stem}.parquet")
    for folder, rows in (generated or {}).items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": [f"{stem}/{folder}/{i}" for i in range(len(rows))], "text": rows}),
                       out / folder / f"{stem}.parquet")
    if commit:
        (out / "_manifest").mkdir(parents=True, exist_ok=True)
        (out / "_manifest" / f"{stem}.json").write_text(json.dumps({"shard": stem}))
    return out


PROMPT_WORDS = "tell me about what happened at the market yesterday when everyone arrived".split()
SAFE_WORDS = "bread garden river music teacher kitten picnic library sunrise bicycle painting orchard".split()
UNSAFE_WORDS = "stab poison bomb torture shoot kill knife gun murder blood steal attack".split()
"""One token each with a leading space, like SAFE_WORDS: neither family is favoured by its spelling."""


def synthetic_text(rng: random.Random, family: list[str], prompt_words: int = 6, family_words: int = 40) -> str:
    """A request made of neutral words, then a continuation from one word family."""
    prompt = " ".join(rng.choice(PROMPT_WORDS) for _ in range(prompt_words))
    return prompt + " : " + " ".join(rng.choice(family) for _ in range(family_words))
