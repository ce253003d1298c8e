"""The ensemble and the route: safety_score = max(embedding score, LLM vote), then keep/rephrase/refuse."""

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
    return pa.array([None if s is None else cfg.routing.route(s) for s in safety.to_pylist()], pa.string())
