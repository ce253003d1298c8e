"""The generation stage: SafeWeb rewrites for `rephrase` rows; RefuseWeb dialogues, then Moral Education
articles from them, for `refuse` rows. Every text is gated and re-scored; finished rows are checkpointed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pyarrow as pa

from curation.config import Config
from curation.io.checkpoints import Checkpoints, text_digest
from curation.schema import CHECKPOINT_SCHEMA, GENERATION_SCHEMA, MORAL_EDUCATION, PREFIX, REFUSEWEB, SAFEWEB
from curation.stages.base import Stage

log = logging.getLogger("safecurate")


class GenerateModels(NamedTuple):
    generator: object
    """The Generator: `gated(kind, keys, sources, score)` -> one Draft per source."""
    judge: object
    """Anything with `score(texts) -> [0-5]` and `similarity(sources, texts) -> [cosine]`: the SafetyJudge that
    re-scores generated texts and relates them to their sources."""


def load_generate_models(cfg: Config) -> GenerateModels:
    """The generator and the judge; they share one engine when the generator's model is the scorer's."""
    from curation.generation.generator import Generator
    from curation.models.engine import chat_model_dir
    from curation.models.judge import SafetyJudge

    generator = Generator(cfg, seed=cfg.seed)
    llm = cfg.scoring.llm
    same = chat_model_dir(cfg.generation.model, llm.model) == chat_model_dir(llm.model)
    return GenerateModels(generator, SafetyJudge(cfg, llm=generator.llm if same else None))


class GenerateStage(Stage):
    """Actor: writes, gates and re-scores the texts of routed rows; a row finished in an earlier run is taken
    from its checkpoint instead (`generation_reused`)."""

    name = "generate"
    load_models = staticmethod(load_generate_models)

    def __init__(self, cfg: dict | Config, threads: int, out: str,
                 models: Callable[[Config], Any] | None = None):
        super().__init__(cfg, threads, models)
        self.checkpoints = Checkpoints(out, self.cfg.content_hash())

    def setup(self, models: GenerateModels) -> None:
        self.generator, self.judge = models

    def process(self, batch: pa.Table) -> tuple[pa.Table, dict[str, list]]:
        n, route = batch.num_rows, batch["route"].to_pylist()
        shards, rows = batch["shard"].to_pylist(), batch["row_index"].to_pylist()
        texts, reasons = batch["text"].to_pylist(), batch["reason"].to_pylist()
        columns = {f.name: [None] * n for f in GENERATION_SCHEMA}
        reused = [False] * n
        todo = {"rephrase": [], "refuse": []}
        for i in range(n):
            if reasons[i] is not None or route[i] not in todo:
                continue
            found = self.checkpoints.lookup(shards[i], rows[i], texts[i], route[i])
            if found is None:
                todo[route[i]].append(i)
                continue
            reused[i] = True
            for name in columns:
                columns[name][i] = found[name]
        keys = [f"{s}/{i}" for s, i in zip(shards, rows, strict=True)]
        failed = self._generate(todo, keys, texts, columns)
        fresh = [i for i in todo["rephrase"] + todo["refuse"] if i not in failed]  # an error is retried on re-run
        if fresh:
            self.checkpoints.save(pa.table({
                "shard": [shards[i] for i in fresh], "row_index": [rows[i] for i in fresh],
                "text_sha": [text_digest(texts[i]) for i in fresh], "route": [route[i] for i in fresh],
                **{name: [values[i] for i in fresh] for name, values in columns.items()},
            }, schema=CHECKPOINT_SCHEMA))
        return batch, columns | {"generation_reused": reused}

    def _generate(self, todo: dict[str, list[int]], keys: list[str], texts: list[str], columns: dict) -> set[int]:
        """Write, gate and re-score the texts of the rows in `todo`, filling `columns` in place.

        A kind that raises marks its rows `error:<Type>`: they go to rejects/ like a gate failure, and
        come back in the returned set (they are not checkpointed, so a re-run tries them again).
        """
        failed: set[int] = set()
        for kind in (SAFEWEB, REFUSEWEB, MORAL_EDUCATION):
            if kind == MORAL_EDUCATION:  # made from the dialogues that passed their gates
                rows = [i for i in todo["refuse"] if columns["refuseweb_text"][i] is not None]
                sources = columns["refuseweb_text"]
            else:
                rows, sources = todo["rephrase" if kind == SAFEWEB else "refuse"], texts
            if rows:
                failed |= self._write(kind, rows, [keys[i] for i in rows], [sources[i] for i in rows], columns)
        return failed

    def _write(self, kind: str, rows: list[int], keys: list[str], sources: list[str], columns: dict) -> set[int]:
        """One kind's texts for `rows`, into `columns`; the rows, when the generator raised."""
        prefix = PREFIX[kind]
        started = time.perf_counter()
        try:
            drafts = self.generator.gated(kind, keys, sources, score=self.judge.score,
                                          similarity=self.judge.similarity)
        except Exception as exc:  # noqa: BLE001 - these rows are rejected with the error; the batch goes on
            log.exception("%s generation failed on a batch", kind)
            for i in rows:
                columns[f"{prefix}_gate"][i] = f"error:{type(exc).__name__}"
            return set(rows)
        seconds = (time.perf_counter() - started) / len(rows)
        for i, draft in zip(rows, drafts, strict=True):
            columns[f"{prefix}_text"][i], columns[f"{prefix}_score"][i] = draft.text, draft.score
            columns[f"{prefix}_tokens"][i], columns[f"{prefix}_attempts"][i] = draft.tokens, draft.attempts
            columns[f"{prefix}_gate"][i], columns[f"{prefix}_failed_text"][i] = draft.reason, draft.failed_text
            columns[f"{prefix}_similarity"][i] = draft.similarity
            columns[f"seconds_{prefix}"][i] = seconds
            if kind == SAFEWEB:
                columns["template"][i] = draft.template
        return set()
