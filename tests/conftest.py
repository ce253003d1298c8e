"""Shared fixtures: offline model loading, one local Ray per session, shard factories, curated folders and
a tiny model trained with harmfulness tags; GPU tests skip without a CUDA device."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import logging  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from tests.synthetic import SAFE_WORDS, UNSAFE_WORDS, synthetic_text, write_curated  # noqa: E402


@pytest.hookimpl(trylast=True)  # after -m has deselected: torch is imported only when a GPU test is selected
def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip where torch sees no CUDA device (make test deselects them, make test-gpu runs them)."""
    selected = [item for item in items if item.get_closest_marker("gpu")]
    if not selected:
        return
    import torch

    if not torch.cuda.is_available():
        for item in selected:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU: make test-gpu on a machine with one"))


@pytest.fixture(scope="session")
def ray_local():
    """One in-process local Ray for the session, with logical CPUs above the physical count."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=600 * 2**20,
             logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture
def kept_folds(tmp_path, monkeypatch):
    """Fold fits (curation.fitting.tune.FOLD_CACHE) kept in a temporary folder instead of the user's cache."""
    monkeypatch.setattr("curation.fitting.tune.FOLD_CACHE", tmp_path / "folds")
    return tmp_path / "folds"


@pytest.fixture
def write_shard(tmp_path):
    """Write a Parquet shard from columns; returns its path."""

    def write(name: str, columns: dict, folder: str = "in", row_group_size: int | None = None):
        path = tmp_path / folder / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
        return path

    return write


@pytest.fixture
def curated(tmp_path):
    return lambda *args, **kwargs: write_curated(tmp_path / "curated", *args, **kwargs)


@pytest.fixture(scope="session")
def tagged_model(tmp_path_factory):
    """The tiny config trained (by training/) on a synthetic corpus: neutral requests continued by safe words
    (score 0) or, more often (75%), by unsafe words (score 5) that carry harmfulness tags at p = 0.1.
    Needs the training environment (litgpt)."""
    pytest.importorskip("litgpt")
    from curation.config import load_yaml_model
    from training.config import TrainConfig
    from training.train import run

    rng = random.Random(0)
    rows = []
    for i in range(300):
        unsafe = rng.random() < 0.75
        rows.append((f"d{i}", synthetic_text(rng, UNSAFE_WORDS if unsafe else SAFE_WORDS), 5 if unsafe else 0))
    root = tmp_path_factory.mktemp("tagged-model")
    data = write_curated(root / "curated", "synthetic", rows)
    overrides = ["mixture={raw_tagged: 1}", "tags.p=0.1", "train.max_tokens=122880", "train.learning_rate=0.01",
                 "train.min_lr=0.001", "train.eval_interval=40", "data.val_fraction=0.1"]
    cfg = load_yaml_model(TrainConfig, Path(__file__).parents[1] / "training" / "configs" / "tiny.yaml", overrides)
    summary = run(cfg, data, root / "run", say=lambda line: None)
    return SimpleNamespace(cfg=cfg, data=data, run_dir=root / "run", hf=root / "run" / "hf", summary=summary)
