"""Input shards: finding them, planning read tasks from their footers, and validating their rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import FailureConfig, InputConfig
from curation.failures import with_retries
from curation.faults import fault_point
from curation.io.storage import file_info, find_files, name_of, open_input
from curation.schema import STREAM_SCHEMA


class ShardError(Exception):
    """A shard that cannot be processed at all; the message names the file and the problem."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass
class Shard:
    """One input Parquet file, as planned from its footer."""

    path: str
    stem: str
    num_rows: int
    size: int
    mtime_ns: int
    row_groups: list[int] = field(default_factory=list)  # rows per row group


def find_shards(pattern: str) -> list[str]:
    """Files matching a glob (or a single file / a folder of .parquet files), sorted: local paths made
    absolute, or URIs of any filesystem pyarrow supports (`s3://bucket/shards/*.parquet`), listed once."""
    paths = find_files(pattern)
    if not paths:
        raise FileNotFoundError(f"no input shards match {pattern!r}")
    return paths


def shard_stem(path: str) -> str:
    """The output name of a shard: its file name without `.parquet`, safe as a file name."""
    name = name_of(path)
    stem = name[: -len(".parquet")] if name.endswith(".parquet") else name
    stem = re.sub(r"[^A-Za-z0-9._=-]", "_", stem).lstrip(".")
    return stem or "shard"


def inspect_shard(path: str, cfg: InputConfig) -> Shard:
    """Read the footer: row counts and schema. Raises ShardError for an unreadable file."""
    try:
        info = file_info(path)
        with open_input(path) as handle:
            meta = pq.ParquetFile(handle).metadata
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file is unusable
        raise ShardError(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    names = meta.schema.to_arrow_schema().names
    if cfg.text_column not in names:
        raise ShardError(path, f"no text column {cfg.text_column!r} (columns: {', '.join(names)}); "
                               "set input.text_column")
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return Shard(path=path, stem=shard_stem(path), num_rows=meta.num_rows, size=info.size,
                 mtime_ns=info.mtime_ns or 0, row_groups=groups)


def read_tasks(shard: Shard, rows_per_task: int) -> list[dict]:
    """Split a shard into read tasks of at most `rows_per_task` rows, never across row groups."""
    tasks, offset = [], 0
    for group, rows in enumerate(shard.row_groups):
        for start in range(0, rows, rows_per_task):
            stop = min(start + rows_per_task, rows)
            tasks.append({"path": shard.path, "stem": shard.stem, "row_group": group,
                          "start": start, "stop": stop, "offset": offset + start})
        offset += rows
    return tasks


def raw_values(column: pa.Array) -> list:
    """A column's Python values, with string and binary values as bytes: a string column may hold bytes that
    are not UTF-8, which Arrow does not check on read but Python cannot decode."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_string(kind):
        column = column.view(pa.binary())
    elif pa.types.is_large_string(kind):
        column = column.view(pa.large_binary())
    elif pa.types.is_string_view(kind):
        column = column.cast(pa.binary_view())
    return column.to_pylist()


def is_textual(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return any(check(kind) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                         pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view))


def validate_texts(column: pa.Array, cfg: InputConfig) -> tuple[list[str | None], list[str | None]]:
    """Text and reject reason per row: exactly one of the two is set."""
    texts: list[str | None] = []
    reasons: list[str | None] = []
    textual = is_textual(column.type)
    for value in raw_values(column):
        text, reason = None, None
        if value is None:
            reason = "null_text"
        elif not textual:
            reason = f"non_string_text:{column.type}"
        else:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                reason = "undecodable_text"
        if text is not None:
            if not text.strip():
                text, reason = None, "empty_text"
            elif len(text) > cfg.max_chars:
                text, reason = None, "too_long"
        texts.append(text)
        reasons.append(reason)
    return texts, reasons


def row_ids(stem: str, column: pa.Array | None, count: int, offset: int = 0) -> list[str]:
    """Each row's id as a string: string ids as they are (bytes that are not UTF-8 escaped), other types in
    their string form (nested values as JSON); a missing column or a null id gives `stem/row` (`offset`: the
    shard position of the first row)."""
    if column is None:
        return [f"{stem}/{offset + i}" for i in range(count)]
    textual = is_textual(column.type)
    ids = []
    for i, value in enumerate(raw_values(column)):
        if value is None:
            ids.append(f"{stem}/{offset + i}")
        elif textual:
            ids.append(value.decode("utf-8", "backslashreplace"))
        elif isinstance(value, (dict, list, tuple)):
            ids.append(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False))
        else:
            ids.append(str(value))
    return ids


def read_task_rows(task: dict, cfg: InputConfig, policy: FailureConfig | None = None) -> pa.Table:
    """Rows of one read task in the stream schema. A row group that fails to read is read again (`policy`);
    one that still fails rejects its rows as `unreadable_row_group` (counted against the read stage's share)."""
    count = task["stop"] - task["start"]

    def read() -> pa.Table:
        fault_point("read.row_group")
        with open_input(task["path"]) as handle:
            return pq.ParquetFile(handle).read_row_group(task["row_group"], columns=[cfg.text_column])

    try:
        table = with_retries(read, policy or FailureConfig(), f"reading {task['path']} row group {task['row_group']}")
        texts, reasons = validate_texts(table.column(0).slice(task["start"], count).combine_chunks(), cfg)
    except Exception as exc:  # noqa: BLE001 - a corrupt page loses its rows to rejects, not the run
        texts = [None] * count
        reasons = [f"unreadable_row_group:{type(exc).__name__}"] * count
    return pa.table({
        "shard": [task["stem"]] * count,
        "row_index": list(range(task["offset"], task["offset"] + count)),
        "text": texts,
        "reason": reasons,
    }, schema=STREAM_SCHEMA)
