"""The Ray Data stream of a run: read tasks -> validated rows -> embedding scores (+ reflections) -> LLM scores
-> verdicts (safety_score, route) -> generated texts for routed rows."""

from __future__ import annotations

import pyarrow as pa

from curation import faults
from curation.config import Config
from curation.io.shards import Shard, read_tasks
from curation.run.ray_setup import actor_stage
from curation.schema import SCORE_SCHEMA
from curation.stages.embed import EmbedStage
from curation.stages.generate import GenerateStage
from curation.stages.llm import LLMStage
from curation.stages.read import read_stage
from curation.stages.verdict import verdict_stage


def build_dataset(shards: list[Shard], cfg: Config, out: str, placements=None):
    """The stream over every row of `shards`; its batches carry score columns, not texts. Each stage actor reports
    where it runs to `placements` (a ray_setup.Placements actor), when given."""
    import ray

    tasks = [t for s in shards for t in read_tasks(s, cfg.resources.read_rows_per_task)]
    cfg_json = cfg.model_dump(mode="json")
    res = cfg.resources
    ds = ray.data.from_items(tasks, override_num_blocks=len(tasks))
    ds = ds.map_batches(read_stage, batch_size=1, batch_format="pyarrow", fn_kwargs={"cfg": cfg_json},
                        num_cpus=res.read_num_cpus, runtime_env={"env_vars": faults.environment()})
    ds = actor_stage(ds, EmbedStage, res.embed, cfg_json, placements)
    if cfg.scoring.llm.enabled:
        ds = actor_stage(ds, LLMStage, res.llm, cfg_json, placements)
    ds = ds.map_batches(verdict_stage, batch_format="pyarrow", fn_kwargs={"cfg": cfg_json},
                        num_cpus=res.read_num_cpus)
    if cfg.generation.enabled:
        ds = actor_stage(ds, GenerateStage, res.generate, cfg_json, placements, one_call=True, out=out)
    return ds.drop_columns(["text"])


def score_columns(batch: pa.Table) -> pa.Table:
    """The driver's view of a batch: SCORE_SCHEMA, with absent stages as nulls."""
    columns = [batch[f.name].cast(f.type) if f.name in batch.column_names else pa.nulls(batch.num_rows, f.type)
               for f in SCORE_SCHEMA]
    return pa.Table.from_arrays(columns, schema=SCORE_SCHEMA)
