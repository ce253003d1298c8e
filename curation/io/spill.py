"""A shard's score rows between the stream and its commit, on disk instead of in the driver's memory.

The driver appends every batch of scores that comes back for a shard to `OUT/_scores/<shard>.parquet` (one row
group per batch, with row_index statistics) and keeps nothing; the commit task reads back, for each row group of
the input, only the score row groups whose row_index range overlaps it. Memory then follows the size of a row
group or a batch, never of a shard.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curation.io.storage import PendingParquet, Store

SPILL_DIR = "_scores"


def spill_path(stem: str) -> str:
    return f"{SPILL_DIR}/{stem}.parquet"


def open_spill(store: Store, stem: str, schema: pa.Schema) -> PendingParquet:
    """The score file of one shard, open for batches; `commit()` makes it appear under its final name."""
    return PendingParquet(store, spill_path(stem), schema)


class ScoreReader:
    """Score rows of a shard by row_index range, from the row groups that can hold them."""

    def __init__(self, store: Store, stem: str):
        self.file = store.parquet_file(spill_path(stem))
        meta = self.file.metadata
        column = self.file.schema_arrow.get_field_index("row_index")
        self.ranges = []
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if meta.row_group(group).num_rows:
                self.ranges.append((group, stats.min, stats.max))

    def rows(self, start: int, stop: int) -> pa.Table:
        """The score rows with start <= row_index < stop, sorted by row_index."""
        groups = [g for g, low, high in self.ranges if low < stop and high >= start]
        if not groups:
            return self.file.schema_arrow.empty_table()
        table = self.file.read_row_groups(groups)
        keep = pc.and_(pc.greater_equal(table["row_index"], start), pc.less(table["row_index"], stop))
        return table.filter(keep).sort_by("row_index")
