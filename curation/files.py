"""Files that appear under their final name only when complete: write to a hidden temporary, then rename."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path` that readers and globs of `*.parquet` never pick up."""
    return path.with_name(f".{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = temporary_name(path)
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    tmp = temporary_name(path)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
