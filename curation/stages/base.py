"""What every model stage repeats: its config and threads, the batch's valid rows, its fault point and timing,
and the columns it appends (typed by the score stream's schema)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from curation.config import Config
from curation.faults import fault_point
from curation.schema import SCORE_SCHEMA


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def valid_rows(batch: pa.Table) -> list[int]:
    """Positions of the rows no earlier step rejected."""
    return [i for i, reason in enumerate(batch["reason"].to_pylist()) if reason is None]


def append_columns(batch: pa.Table, columns: dict[str, list]) -> pa.Table:
    """`batch` with each named column added, typed as in SCORE_SCHEMA."""
    for name, values in columns.items():
        batch = batch.append_column(name, pa.array(values, SCORE_SCHEMA.field(name).type))
    return batch


class Stage:
    """A model stage: `models(cfg)` loads what it needs once (tests pass their own), `process` fills columns for
    a batch; the call adds the fault point `<name>.batch` and the per-row seconds column `seconds_<name>`."""

    name = "stage"

    def __init__(self, cfg: dict | Config, threads: int, models: Callable[[Config], Any] | None = None):
        set_threads(threads)
        self.cfg = cfg if isinstance(cfg, Config) else Config.model_validate(cfg)
        self.setup((models or self.load_models)(self.cfg))

    @staticmethod
    def load_models(cfg: Config) -> Any:
        raise NotImplementedError

    def setup(self, models: Any) -> None:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> tuple[pa.Table, dict[str, list]]:
        """(the batch, possibly with columns replaced, and the columns to append)."""
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> pa.Table:
        fault_point(f"{self.name}.batch")
        started = time.perf_counter()
        batch, columns = self.process(batch)
        columns[f"seconds_{self.name}"] = [(time.perf_counter() - started) / max(1, batch.num_rows)] * batch.num_rows
        return append_columns(batch, columns)
