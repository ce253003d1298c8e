"""What every model stage repeats: its config and threads, the batch's valid rows, its fault point and timing,
and the columns it appends (typed by the score stream's schema)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from curation.config import Config
from curation.failures import describe, with_retries
from curation.faults import fault_point
from curation.schema import SCORE_SCHEMA


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def valid_rows(batch: pa.Table) -> list[int]:
    """Positions of the rows no earlier step rejected and no earlier stage failed on."""
    failed = batch["stage_error"].to_pylist() if "stage_error" in batch.column_names else [None] * batch.num_rows
    return [i for i, (reason, error) in enumerate(zip(batch["reason"].to_pylist(), failed, strict=True))
            if reason is None and error is None]


def mark_failed(batch: pa.Table, error: str) -> pa.Table:
    """The batch with `error` as the stage_error of every row that has none yet."""
    if "stage_error" not in batch.column_names:
        return batch.append_column("stage_error", pa.array([error] * batch.num_rows, pa.string()))
    errors = [e if e is not None else error for e in batch["stage_error"].to_pylist()]
    return batch.set_column(batch.schema.get_field_index("stage_error"), "stage_error", pa.array(errors, pa.string()))


def append_columns(batch: pa.Table, columns: dict[str, list]) -> pa.Table:
    """`batch` with each named column added, typed as in SCORE_SCHEMA."""
    for name, values in columns.items():
        batch = batch.append_column(name, pa.array(values, SCORE_SCHEMA.field(name).type))
    return batch


class Stage:
    """A model stage: `models(cfg)` loads what it needs once (tests pass their own), `process` fills columns for
    a batch. The call adds the fault point `<name>.batch`, retries a batch that raises (config `failures`), and the
    per-row seconds column `seconds_<name>`; a batch that still fails gets the error as every row's stage_error,
    which fails its shard."""

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
        started = time.perf_counter()

        def attempt() -> tuple[pa.Table, dict[str, list]]:
            fault_point(f"{self.name}.batch")
            return self.process(batch)

        try:
            batch, columns = with_retries(attempt, self.cfg.failures, f"{self.name} stage")
        except Exception as exc:  # noqa: BLE001 - recorded on the rows; the driver fails their shard
            return mark_failed(batch, describe(self.name, exc, self.cfg.failures.retries + 1))
        columns[f"seconds_{self.name}"] = [(time.perf_counter() - started) / max(1, batch.num_rows)] * batch.num_rows
        return append_columns(batch, columns)
