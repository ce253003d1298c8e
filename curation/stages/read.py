"""The read step: a CPU task turns read tasks (a shard's row range) into validated stream rows."""

from __future__ import annotations

import pyarrow as pa

from curation.config import Config
from curation.faults import fault_point
from curation.io.shards import read_task_rows


def read_stage(batch: pa.Table, cfg: dict) -> pa.Table:
    """Read and validate the rows of each read task in the batch."""
    config = Config.model_validate(cfg)
    fault_point("read.task")
    return pa.concat_tables([read_task_rows(task, config.input, config.failures) for task in batch.to_pylist()])
