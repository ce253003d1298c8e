"""Where shards are read from and outputs written to: a local folder, or any filesystem pyarrow supports
(`s3://bucket/prefix`, `gs://...`, `hdfs://...`), named by URI; credentials and endpoints come from the
environment as each filesystem documents (e.g. AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL for S3).

Outputs must appear under their final names only when complete. A local folder gets that from a hidden
temporary renamed into place. Object stores have no rename, but publish an object only when its upload
completes: a small file (a card, a manifest) is serialized in memory and uploaded in one piece; a table
written row group by row group goes to a hidden temporary object and is copied to its final key server-side
once complete. Either way a killed or failing writer leaves nothing under a final name, and the shard's
manifest, written last, is what marks it committed.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from curation.io.files import TMP_MARK, atomic_write_bytes, atomic_write_parquet, temporary_name

GLOB_CHARS = re.compile(r"[*?\[]")


def is_uri(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


@lru_cache(maxsize=32)
def _filesystem(prefix: str) -> tuple[pafs.FileSystem, str]:
    """One filesystem object per scheme, authority and options (S3 resolves a bucket's region once)."""
    fs, root = pafs.FileSystem.from_uri(prefix)
    return fs, root.rstrip("/")


def _split(location: str) -> tuple[str, str, str]:
    """(scheme://authority?query, path, query) of a URI."""
    parts = urlsplit(location)
    prefix = f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")
    return prefix, parts.path, parts.query


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of a local path or URI, and the path within it."""
    if not is_uri(location):
        local = location[len("file://"):] if location.startswith("file://") else location
        return pafs.LocalFileSystem(), os.path.abspath(local)
    prefix, path, _ = _split(location)
    fs, root = _filesystem(prefix)
    return fs, root + path


def _locator(location: str):
    """Maps a path of `location`'s filesystem back to a location in the same form (path or URI)."""
    if not is_uri(location):
        return lambda path: path
    prefix, _, query = _split(location)
    base = prefix.partition("?")[0]
    root = _filesystem(prefix)[1]
    return lambda path: base + path[len(root):] + (f"?{query}" if query else "")


def name_of(location: str) -> str:
    """The last path segment of a local path or URI."""
    return location.partition("?")[0].rstrip("/").rsplit("/", 1)[-1]


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell-glob semantics on `/`-separated paths: `*` and `?` stay within a segment, `**/` spans any."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def find_files(pattern: str) -> list[str]:
    """Files of a location that is a file, a folder (its `*.parquet`) or a glob, from one listing, sorted;
    each in the form of `pattern` (a local path or a URI)."""
    fs, path = resolve(pattern)
    locate = _locator(pattern)
    if not GLOB_CHARS.search(path):
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [locate(path)]
        if info.type == pafs.FileType.Directory:
            found = fs.get_file_info(pafs.FileSelector(path, recursive=False))
            return sorted(locate(f.path) for f in found
                          if f.type == pafs.FileType.File and f.base_name.endswith(".parquet")
                          and not f.base_name.startswith("."))
        return []
    segments = path.split("/")
    first = next(i for i, s in enumerate(segments) if GLOB_CHARS.search(s))
    folder = "/".join(segments[:first]) or "/"
    deep = len(segments) - first > 1 or "**" in path
    found = fs.get_file_info(pafs.FileSelector(folder, recursive=deep, allow_not_found=True))
    match = _glob_regex(path)
    dotted = segments[-1].startswith(".")  # as in the shell, hidden names match only a pattern that starts with "."

    def visible(found: str) -> bool:
        parts = found[len(folder):].split("/")
        return dotted or not any(part.startswith(".") for part in parts)

    return sorted(locate(f.path) for f in found
                  if f.type == pafs.FileType.File and match.match(f.path) and visible(f.path))


def file_info(location: str) -> pafs.FileInfo:
    fs, path = resolve(location)
    return fs.get_file_info(path)


def open_input(location: str):
    """A random-access file for a local path or URI (what pyarrow's Parquet reader takes)."""
    fs, path = resolve(location)
    return fs.open_input_file(path)


class Store:
    """An output folder on a local disk or a filesystem pyarrow supports, addressed by relative paths."""

    def __init__(self, location: str | Path):
        location = str(location)
        self.local = not is_uri(location)
        self.location = os.path.abspath(location) if self.local else location.rstrip("/")
        self.fs, self.root = resolve(self.location)

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def folder(self, rel: str) -> Path:
        """A local folder under the store (local stores only)."""
        assert self.local, "only a local store has folders on disk"
        return Path(self.root) / rel

    def make_folders(self, *rels: str) -> None:
        if self.local:  # object stores have no folders: a key's prefix is enough
            for rel in rels:
                os.makedirs(self._path(rel), exist_ok=True)

    def write_bytes(self, rel: str, data: bytes, before_rename=None) -> None:
        """Write a whole file; `before_rename` runs once it exists under its temporary name (local) or just
        before its upload (object store)."""
        if self.local:
            path = Path(self._path(rel))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, before_rename)
            return
        if before_rename is not None:
            before_rename()
        with self.fs.open_output_stream(self._path(rel)) as handle:
            handle.write(data)

    def write_parquet(self, rel: str, table: pa.Table) -> None:
        if self.local:
            path = Path(self._path(rel))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_parquet(path, table)
            return
        sink = pa.BufferOutputStream()  # whole file first: a failure while writing uploads nothing
        pq.write_table(table, sink, compression="zstd")
        self.write_bytes(rel, sink.getvalue().to_pybytes())

    def pending(self, rel: str) -> PendingFile:
        """A file to write in pieces (a Parquet file row group by row group) that appears as `rel` only on
        `commit()`."""
        return PendingFile(self, rel)

    def _list(self, folder: str) -> list[pafs.FileInfo]:
        """What is directly in `folder`; [] when it does not exist."""
        try:
            return self.fs.get_file_info(pafs.FileSelector(self._path(folder), recursive=False,
                                                           allow_not_found=True))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def clean_temporaries(self, folder: str) -> int:
        """Remove the hidden temporaries a killed writer left in `folder`."""
        stale = [f for f in self._list(folder) if f.type == pafs.FileType.File and f.base_name.startswith(".")
                 and TMP_MARK in f.base_name]
        for f in stale:
            self.fs.delete_file(f.path)
        return len(stale)

    def read_bytes(self, rel: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        try:
            with self.fs.open_input_stream(self._path(rel)) as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError):
            return None
        except OSError as exc:
            if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                return None
            raise

    def read_parquet(self, rel: str) -> pa.Table:
        return pq.read_table(self._path(rel), filesystem=self.fs)

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        """A Parquet file of the store, read lazily (footer first, then row groups on demand)."""
        return pq.ParquetFile(self.fs.open_input_file(self._path(rel)))

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self._path(rel)).type == pafs.FileType.File

    def names(self, folder: str, suffix: str = "") -> list[str]:
        """Names of the visible files directly in `folder` ending in `suffix`, sorted; [] when there is none."""
        return sorted(name for f in self._list(folder) if f.type == pafs.FileType.File
                      for name in [f.base_name] if name.endswith(suffix) and not name.startswith("."))

    def subfolders(self, folder: str) -> list[str]:
        return sorted(f.base_name for f in self._list(folder) if f.type == pafs.FileType.Directory)

    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self._path(rel))
        except (FileNotFoundError, OSError):
            pass  # already gone

    def delete_folder(self, rel: str) -> None:
        try:
            self.fs.delete_dir(self._path(rel))
        except (FileNotFoundError, OSError):
            pass


class PendingFile:
    """A hidden temporary beside `rel` (a file, or an object next to the final key) to write through `stream`.
    `commit()` gives it its final name: a rename on a local disk, a server-side copy on object stores, so the
    final name never shows a partial file. `abort()` (or a killed writer, then `Store.clean_temporaries`)
    leaves nothing under the final name."""

    def __init__(self, store: Store, rel: str):
        self.store, self.rel = store, rel
        self.tmp = str(temporary_name(PurePosixPath(rel)))
        if store.local:
            os.makedirs(os.path.dirname(store._path(self.tmp)), exist_ok=True)
        self.stream = store.fs.open_output_stream(store._path(self.tmp))

    def commit(self) -> None:
        self.stream.close()
        self.store.fs.move(self.store._path(self.tmp), self.store._path(self.rel))

    def abort(self) -> None:
        if not self.stream.closed:
            self.stream.close()
        self.store.delete(self.tmp)


class PendingParquet:
    """A Parquet file of `schema` written row group by row group into a PendingFile: `commit()` closes it and
    gives it its final name, `abort()` removes it. Each table is cast to the schema."""

    def __init__(self, store: Store, rel: str, schema: pa.Schema):
        self._file = store.pending(rel)
        self._writer = pq.ParquetWriter(self._file.stream, schema, compression="zstd")
        self.schema = schema

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table.cast(self.schema))

    def commit(self) -> None:
        self._writer.close()
        self._file.commit()

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.abort()
