"""Names and table schemas every layer shares: generation kinds, output folders, the score stream, rejects,
checkpoints. Defined here once; everything else imports them.
"""

from __future__ import annotations

import pyarrow as pa

SAFEWEB, REFUSEWEB, MORAL_EDUCATION = "safeweb", "refuseweb", "moral_education"
GENERATION_KINDS = (SAFEWEB, REFUSEWEB, MORAL_EDUCATION)
"""What the generation stage writes; each is also the name of its output folder."""
PREFIX = {SAFEWEB: "safeweb", REFUSEWEB: "refuseweb", MORAL_EDUCATION: "moral"}
"""Generation kind -> prefix of its columns in the score stream."""
SCORE_GATED = (SAFEWEB, MORAL_EDUCATION)
"""Kinds whose texts must score safe; a RefuseWeb dialogue quotes its harmful request on purpose."""

SCORE_BANDS = ((0, 0), (1, 3), (4, 5))
"""Safety-score bands the report card shows examples and n-gram rates for: safe, in between, unsafe."""

REFLECTIONS = "reflections"
GENERATED_DIRS = (*GENERATION_KINDS, REFLECTIONS)
OUTPUT_DIRS = ("scored", "rejects", *GENERATED_DIRS, "reports", "_manifest")
SUFFIX = {**PREFIX, REFLECTIONS: "reflections"}
"""Generated row id = source id + "#" + suffix."""

STREAM_SCHEMA = pa.schema([
    ("shard", pa.string()),
    ("row_index", pa.int64()),
    ("text", pa.string()),
    ("reason", pa.string()),
])
"""Columns every row carries into the model stages (the input's other columns stay on disk)."""

REJECT_SCHEMA = pa.schema([
    ("row_index", pa.int64()),
    ("id", pa.string()),
    ("stage", pa.string()),  # "input": an input row; else the generated output whose text failed the gates
    ("reason", pa.string()),
    ("text_preview", pa.string()),
])

GENERATION_SCHEMA = pa.schema([
    ("template", pa.string()),                   # the SafeWeb framing drawn for the row
    *[field for prefix in PREFIX.values() for field in (
        (f"{prefix}_text", pa.string()),         # passed the gates
        (f"{prefix}_score", pa.int64()),         # safety score of the generated text
        (f"{prefix}_similarity", pa.float64()),  # encoder cosine to its source (see gates.min_similarity)
        (f"{prefix}_tokens", pa.int64()),        # tokens generated over every try
        (f"{prefix}_attempts", pa.int64()),
        (f"{prefix}_gate", pa.string()),         # why the last try failed, when none passed
        (f"{prefix}_failed_text", pa.string()),  # that try's text
        (f"seconds_{prefix}", pa.float64()),
    )],
])
"""The columns the generation stage writes per row, and a checkpoint keeps."""

SCORE_SCHEMA = pa.schema([
    ("shard", pa.string()),
    ("row_index", pa.int64()),
    ("reason", pa.string()),                    # why the input row is rejected; null for a valid row
    ("embed_score", pa.int64()),
    ("embed_prob", pa.float64()),               # the embedding classifier's P(score >= 2)
    ("tokens", pa.int64()),
    ("llm_score", pa.int64()),
    ("llm_reason", pa.string()),
    ("llm_confidence", pa.float64()),
    ("llm_invalid", pa.bool_()),
    ("safety_score", pa.int64()),               # the ensemble of embed_score and llm_score
    ("route", pa.string()),                     # keep / rephrase / refuse, from safety_score
    ("seconds_embed", pa.float64()),
    ("seconds_llm", pa.float64()),
    ("reflection_text", pa.string()),
    ("reflection_segments", pa.int64()),
    ("reflection_unsafe", pa.int64()),
    ("reflection_error", pa.string()),          # why the row's reflection failed (a reject with stage reflections)
    *GENERATION_SCHEMA,
    ("generation_reused", pa.bool_()),          # taken from a checkpoint of an earlier run
    ("seconds_generate", pa.float64()),
    ("stage_error", pa.string()),               # a stage failed this row's batch after its retries: the shard fails
])
"""What comes back from the model stages for every row, and what a shard's score spill holds."""

CHECKPOINT_SCHEMA = pa.schema([("shard", pa.string()), ("row_index", pa.int64()), ("text_sha", pa.string()),
                               ("route", pa.string()), *GENERATION_SCHEMA])
"""A generated row kept until its shard commits: its key, the source text's digest and route, its columns."""

TEXT_COLUMNS = ("reflection_text", *(f"{p}_{c}" for p in PREFIX.values() for c in ("text", "failed_text")))
"""Score columns that hold texts (the report card only needs whether they are there)."""
DUPLICATE_CLEARED = ("reflection_text", *(f"{p}_{c}" for p in PREFIX.values() for c in ("text", "gate")))
"""Score columns cleared on a row rejected as a duplicate id, so that no output gets a second row for it."""
