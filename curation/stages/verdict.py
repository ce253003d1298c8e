"""The verdict step: a CPU task adds each row's safety_score (the ensemble) and route, once, after scoring."""

from __future__ import annotations

import pyarrow as pa

from curation.config import Config
from curation.models.ensemble import verdicts
from curation.stages.base import append_columns


def verdict_stage(batch: pa.Table, cfg: dict) -> pa.Table:
    safety, route = verdicts(batch, Config.model_validate(cfg))
    return append_columns(batch, {"safety_score": safety.to_pylist(), "route": route.to_pylist()})
