"""The embedding stage: the embedding classifier scores each valid row; reflections are written beside it."""

from __future__ import annotations

import logging
from typing import NamedTuple

import pyarrow as pa

from curation.config import Config
from curation.failures import with_retries
from curation.faults import fault_point
from curation.stages.base import Stage, valid_rows

log = logging.getLogger("safecurate")


class EmbedModels(NamedTuple):
    classifier: object
    """Anything with `score(texts) -> (scores, P(score >= 2), token counts)`: the EmbeddingClassifier."""
    reflector: object | None
    """Anything with `annotate(texts) -> [(text, segments, unsafe segments)]`, or None without reflections."""


def load_embed_models(cfg: Config) -> EmbedModels:
    from curation.models.encoder import EmbeddingClassifier

    classifier = EmbeddingClassifier(cfg.scoring.embed, cfg.resources.embed.batch_size)
    if not cfg.reflections.enabled:
        return EmbedModels(classifier, None)
    from curation.reflect.reflector import Reflector

    return EmbedModels(classifier, Reflector(classifier, cfg.reflections))


class EmbedStage(Stage):
    """Actor: scores the valid rows of each batch; a row the classifier cannot score is rejected alone
    (`embed_error:<Type>`), not with its batch."""

    name = "embed"
    load_models = staticmethod(load_embed_models)

    def setup(self, models: EmbedModels) -> None:
        self.classifier, self.reflector = models

    def _score(self, texts: list[str]):
        for text in texts:
            fault_point("embed.row", text)
        return self.classifier.score(texts)

    def process(self, batch: pa.Table) -> tuple[pa.Table, dict[str, list]]:
        n, valid = batch.num_rows, valid_rows(batch)
        texts, reasons = batch["text"].to_pylist(), batch["reason"].to_pylist()
        columns = {name: [None] * n for name in ("embed_score", "embed_prob", "tokens")}
        try:
            results = list(zip(valid, *self._score([texts[i] for i in valid]), strict=True))
        except Exception:  # noqa: BLE001 - retry row by row so one bad row cannot sink its batch
            log.exception("embedding classifier failed on a batch; scoring its rows one by one")
            results = []
            for i in valid:
                try:
                    results.append((i, *(values[0] for values in self._score([texts[i]]))))
                except Exception as exc:  # noqa: BLE001 - this row goes to rejects with the error
                    reasons[i] = f"embed_error:{type(exc).__name__}"
        for i, score, prob, count in results:
            columns["embed_score"][i], columns["embed_prob"][i] = int(score), float(prob)
            columns["tokens"][i] = int(count)
        if self.reflector is not None:
            columns |= self._reflect(texts, [i for i in valid if columns["embed_score"][i] is not None])
        batch = batch.set_column(batch.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string()))
        return batch, columns

    def _reflect(self, texts: list[str], rows: list[int]) -> dict[str, list]:
        """Reflection columns: the text with a Safe/Unsafe reflection after each segment. A batch that still
        fails after its retries gives each of its rows a reflection_error (a reject with stage reflections)."""
        names = ("reflection_text", "reflection_segments", "reflection_unsafe")
        columns = {name: [None] * len(texts) for name in (*names, "reflection_error")}
        try:
            annotated = with_retries(lambda: self.reflector.annotate([texts[i] for i in rows]), self.cfg.failures,
                                     "reflections")
        except Exception as exc:  # noqa: BLE001 - reflections are an extra output; the scores stand
            log.exception("reflections failed on a batch")
            for i in rows:
                columns["reflection_error"][i] = f"reflection_error:{type(exc).__name__}"
            return columns
        for i, values in zip(rows, annotated, strict=True):
            for name, value in zip(names, values, strict=True):
                columns[name][i] = value
        return columns
