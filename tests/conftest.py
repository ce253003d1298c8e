"""Shared fixtures: offline model loading, one local Ray per session, shard factories."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import logging  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_local():
    """One in-process local Ray for the session, with logical CPUs above the physical count."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=600 * 2**20,
             logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture
def write_shard(tmp_path):
    """Write a Parquet shard from columns; returns its path."""

    def write(name: str, columns: dict, folder: str = "in", row_group_size: int | None = None):
        path = tmp_path / folder / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
        return path

    return write
