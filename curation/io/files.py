"""Files that appear under their final name only when complete: write to a hidden temporary, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path` that readers and globs of `*.parquet` never pick up."""
    return path.with_name(f".{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: Path, data: bytes, before_rename=None) -> None:
    tmp = temporary_name(path)
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if before_rename is not None:
        before_rename()
    os.replace(tmp, path)


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    tmp = temporary_name(path)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


@contextmanager
def atomic_directory(dest: Path) -> Iterator[Path]:
    """A hidden temporary folder beside `dest` to fill; when the block ends without error it replaces `dest`
    (an existing one is removed first), readable by all. On error it is removed and `dest` is untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; what it becomes is not
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
