"""The GPU profile on one CUDA GPU (`make test-gpu`): cluster/gpu.yaml on a local Ray, its pools at one actor each
sharing the GPU by fractions that add up to one (encoder 0.2, scorer engine 0.4, generator engine 0.4, each engine
on 0.3 of the GPU's memory), vLLM's CUDA build on the tiny test model."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.run.driver import run_curation
from curation.run.ray_setup import placement_problems
from tests.tiny_model import tiny_chat_model_dir

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(900)]

PROFILE = Path(__file__).parents[3] / "cluster" / "gpu.yaml"
TEXTS = ["Preheat the oven and butter a loaf tin, then bake the banana bread for an hour.",
         "I know where you live and I will come to your house tonight and hurt your whole family.",
         "Our cycling club meets every Sunday morning at the park gate for a relaxed ride.",
         "Those people are vermin and should be wiped out, every last one of them."]
SHARES = {"embed": 0.2, "llm": 0.4, "generate": 0.4}


def one_gpu_profile(model: Path) -> list[str]:
    """cluster/gpu.yaml on one GPU and a local Ray: the tiny model, eager engines (CUDA graphs cost minutes of
    start-up for seconds of work here), one actor per pool on a share of the GPU."""
    return [f"scoring.llm.model={model}", "scoring.llm.max_model_len=1024", "scoring.llm.gpu_memory_utilization=0.3",
            "scoring.llm.enforce_eager=true", "generation.max_tokens=48", "generation.gates.retries=0",
            *(f"resources.{stage}.{key}={value}" for stage, share in SHARES.items()
              for key, value in (("actors", 1), ("num_gpus", share), ("batch_size", 8))),
            "resources.read_rows_per_task=8", "report.ngrams=false", "ray.address=null"]


def test_the_gpu_profile_curates_on_one_gpu_with_every_stage_on_it(write_shard, tmp_path):
    pytest.importorskip("vllm")
    from vllm.platforms import current_platform

    if not current_platform.is_cuda():
        pytest.skip("needs vLLM's CUDA build: make setup ENGINE=gpu")
    write_shard("mixed", {"id": [f"d{i}" for i in range(12)], "text": [f"{TEXTS[i % 4]} ({i})" for i in range(12)]})
    out = tmp_path / "out"
    cfg = load_config(PROFILE, one_gpu_profile(tiny_chat_model_dir(tmp_path / "tiny")))
    summary = run_curation(str(tmp_path / "in"), str(out), cfg, progress=False)
    assert summary.ok, summary.failed

    rows = pq.read_table(out / "scored" / "mixed.parquet").to_pylist()
    assert sorted(r["id"] for r in rows) == [f"d{i}" for i in range(12)]
    assert all(r["safety_score"] in range(6) and r["safety_score"] >= r["embed_score"] for r in rows)
    card = json.loads((out / "reports" / "mixed.json").read_text())
    assert card["llm"]["enabled"] is True and card["seconds"]["llm"] > 0
    assert {r["stage"] for r in summary.actors} == set(SHARES)
    assert all(r["gpu_ids"] and r["cuda_devices"] >= 1 for r in summary.actors), summary.actors  # each on the GPU
    assert placement_problems(summary.actors) == []
