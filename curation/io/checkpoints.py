"""Generation checkpoints: the generated rows of a shard not yet committed, reused when a run is redone.

Generation is the expensive part of a run, so a killed run must not redo a whole shard. Each generate
batch writes its finished rows to `OUT/_checkpoints/<config hash>/<shard>/part-<id>.parquet` (whole files
only, renamed into place). A re-run looks every routed row up by (row index, hash of its text, route)
and generates only the rows it does not find. Checkpoints are removed once their shard commits; the
final outputs still appear only at the commit.
"""

from __future__ import annotations

import hashlib
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from curation.io.files import TMP_MARK
from curation.io.storage import Store

CHECKPOINT_DIR = "_checkpoints"


def text_digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class Checkpoints:
    """The generated rows checkpointed for one config, loaded per shard on first use."""

    def __init__(self, out: str | Store, config_hash: str):
        self.store = out if isinstance(out, Store) else Store(out)
        self.root = f"{CHECKPOINT_DIR}/{config_hash}"
        self._rows: dict[str, dict[int, dict]] = {}

    def lookup(self, shard: str, row_index: int, text: str, route: str) -> dict | None:
        """The checkpointed columns of one row, when its text and route are the ones checkpointed."""
        if shard not in self._rows:
            self._rows[shard] = self._load(shard)
        row = self._rows[shard].get(row_index)
        if row is None or row["route"] != route or row["text_sha"] != text_digest(text):
            return None
        return row

    def save(self, rows: pa.Table) -> None:
        """Write finished rows (CHECKPOINT_SCHEMA: key, text digest, route, generated columns), one file per shard."""
        for shard in set(rows["shard"].to_pylist()):
            part = rows.filter(pc.equal(rows["shard"], shard))
            self.store.write_parquet(f"{self.root}/{shard}/part-{uuid.uuid4().hex}.parquet", part)

    def _load(self, shard: str) -> dict[int, dict]:
        rows: dict[int, dict] = {}
        folder = f"{self.root}/{shard}"
        for name in self.store.names(folder, ".parquet"):
            try:
                table = self.store.read_parquet(f"{folder}/{name}")
            except (OSError, pa.ArrowInvalid):
                continue  # unreadable: those rows are generated again
            for row in table.to_pylist():
                rows[row["row_index"]] = row
        return rows


def remove_checkpoints(store: Store, shard: str) -> None:
    """Drop a committed shard's checkpoints, under every config hash."""
    for config_hash in store.subfolders(CHECKPOINT_DIR):
        store.delete_folder(f"{CHECKPOINT_DIR}/{config_hash}/{shard}")
    if store.local:  # empty config folders, then the root itself (object stores have no empty folders)
        root = store.folder(CHECKPOINT_DIR)
        for folder in [*root.glob("*"), root]:
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (another shard's checkpoints) or already gone


def clean_checkpoint_temporaries(store: Store) -> int:
    removed = 0
    for tmp in store.folder(CHECKPOINT_DIR).glob(f"*/*/.*{TMP_MARK}*"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
