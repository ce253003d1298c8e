"""The LLM stage: the rubric scorer rates each valid row 0-5 on a chat model."""

from __future__ import annotations

import pyarrow as pa

from curation.config import Config
from curation.stages.base import Stage, valid_rows


def load_rubric_scorer(cfg: Config):
    from curation.models.rubric import RubricScorer

    return RubricScorer(cfg.scoring.llm, seed=cfg.seed)


class LLMStage(Stage):
    """Actor: one engine per actor; a reply that does not parse leaves the row's llm_score null (llm_invalid, a
    per-row problem counted against failures.max_stage_share); an engine that raises is retried by the base."""

    name = "llm"
    load_models = staticmethod(load_rubric_scorer)

    def setup(self, scorer) -> None:
        self.scorer = scorer

    def process(self, batch: pa.Table) -> tuple[pa.Table, dict[str, list]]:
        n, valid = batch.num_rows, valid_rows(batch)
        texts = batch["text"].to_pylist()
        columns = {name: [None] * n for name in ("llm_score", "llm_reason", "llm_confidence", "llm_invalid")}
        verdicts = self.scorer.score([texts[i] for i in valid])  # an engine error is the base's to retry
        for i, verdict in zip(valid, verdicts, strict=True):
            columns["llm_invalid"][i] = verdict.score is None
            columns["llm_score"][i], columns["llm_reason"][i] = verdict.score, verdict.reason
            columns["llm_confidence"][i] = verdict.confidence
        return batch, columns
