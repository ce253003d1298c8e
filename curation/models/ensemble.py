"""The ensemble and the route: safety_score = max(embedding score, LLM vote), then keep / rephrase / refuse."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Config


def safety_scores(embed: pa.Array, llm: pa.Array, confidence: pa.Array, cfg: Config) -> pa.Array:
    """The max-ensemble; with `vote: confident` an LLM score counts only at min_confidence or above."""
    vote = llm
    if cfg.scoring.llm.vote == "confident":
        sure = pc.greater_equal(pc.fill_null(confidence, 0.0), cfg.scoring.llm.min_confidence)
        vote = pc.if_else(sure, llm, pa.scalar(None, pa.int64()))
    return pc.max_element_wise(embed, vote, skip_nulls=True)


def routes(safety: pa.Array, cfg: Config) -> pa.Array:
    """Each row's route by its safety score (config `routing`); null where there is no score."""
    return pa.array([None if s is None else cfg.routing.route(s) for s in safety.to_pylist()], pa.string())


def verdicts(batch: pa.Table, cfg: Config) -> tuple[pa.Array, pa.Array]:
    """(safety_score, route) of each row of a batch with embed_score and, when the LLM scorer ran, its columns."""
    def column(name: str, kind: pa.DataType):
        return batch[name] if name in batch.column_names else pa.nulls(batch.num_rows, kind)

    safety = safety_scores(column("embed_score", pa.int64()), column("llm_score", pa.int64()),
                           column("llm_confidence", pa.float64()), cfg)
    return safety, routes(safety, cfg)
