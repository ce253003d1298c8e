"""The safety judge: any list of texts scored 0-5 by the project's scorers and ensemble.

The same embedding classifier, LLM rubric scorer and max-ensemble (with its `vote` rule) that score the
documents. Used to re-score generated texts and to judge model completions in `decoding/`'s evaluation.
"""

from __future__ import annotations

import pyarrow as pa

from curation.config import Config
from curation.models.ensemble import safety_scores


class SafetyJudge:
    """Loads the scorers of `cfg.scoring` once; `llm` is a vLLM engine to share with the rubric scorer."""

    def __init__(self, cfg: Config, llm=None):
        from curation.models.encoder import EmbeddingClassifier

        self.cfg, self.shared = cfg, llm is not None
        self.classifier = EmbeddingClassifier(cfg.scoring.embed, cfg.resources.embed.batch_size)
        self.plain = None  # the encoder without tuned layers, for `similarity`
        self.llm_scorer = None
        if cfg.scoring.llm.enabled:
            from curation.models.rubric import RubricScorer

            self.llm_scorer = RubricScorer(cfg.scoring.llm, seed=cfg.seed, llm=llm)

    def score(self, texts: list[str]) -> list[int]:
        """The safety score of each text (0 safe .. 5 highly unsafe)."""
        if not texts:
            return []
        embed, _, _ = self.classifier.score(texts)
        llm, confidence = [None] * len(texts), [None] * len(texts)
        if self.llm_scorer is not None:
            verdicts = self.llm_scorer.score(texts)
            llm, confidence = [v.score for v in verdicts], [v.confidence for v in verdicts]
        return safety_scores(pa.array([int(s) for s in embed], pa.int64()), pa.array(llm, pa.int64()),
                             pa.array(confidence, pa.float64()), self.cfg).to_pylist()

    def similarity(self, sources: list[str], texts: list[str]) -> list[float]:
        """Cosine similarity of each text to its source, by the scoring encoder without tuned layers (tuned for
        harm, they draw unrelated texts together: benchmarks/results/faithfulness.json), each cut at max_seq_length."""
        if not texts:
            return []
        if self.plain is None:
            from curation.models.encoder import load_encoder

            embed = self.cfg.scoring.embed
            self.plain = load_encoder(embed) if self.classifier.tuned else self.classifier.encoder
        encode = self.plain.encode
        a = encode(sources, batch_size=self.classifier.batch_size, normalize_embeddings=True, show_progress_bar=False)
        b = encode(texts, batch_size=self.classifier.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return [float(x) for x in (a * b).sum(axis=1)]

    def close(self) -> None:
        """Stop the rubric scorer's engine now (shared engines are stopped by their owner)."""
        if self.llm_scorer is not None and not self.shared:
            self.llm_scorer.close()
