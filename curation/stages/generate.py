"""The generation stage: SafeWeb rewrites for `rephrase` rows; RefuseWeb dialogues, then (when
`generation.moral_education` is on) Moral Education articles from them, for `refuse` rows. Every text is gated
and re-scored; finished rows are checkpointed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pyarrow as pa

from curation.config import Config
from curation.io.checkpoints import Checkpoints, text_digest
from curation.schema import CHECKPOINT_SCHEMA, GENERATION_SCHEMA, MORAL_EDUCATION, PREFIX, REFUSEWEB, SAFEWEB
from curation.stages.base import Stage


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
        self._generate(todo, keys, texts, columns)
        fresh = todo["rephrase"] + todo["refuse"]
        if fresh:
            self.checkpoints.save(pa.table({
                "shard": [shards[i] for i in fresh], "row_index": [rows[i] for i in fresh],
                "text_sha": [text_digest(texts[i]) for i in fresh], "route": [route[i] for i in fresh],
                **{name: [values[i] for i in fresh] for name, values in columns.items()},
            }, schema=CHECKPOINT_SCHEMA))
        return batch, columns | {"generation_reused": reused}

    def _generate(self, todo: dict[str, list[int]], keys: list[str], texts: list[str], columns: dict) -> None:
        """Write, gate and re-score the texts of the rows in `todo`, filling `columns` in place.

        Every kind goes through the engine together, a wave per try (`Generator.settle`): SafeWeb and RefuseWeb
        first; a Moral Education article (when on) joins the next wave as soon as its dialogue has passed its gates.
        An engine that raises raises here: the stage retries the batch, then fails its shard.
        """
        from curation.generation.generator import Gating

        started = time.perf_counter()
        gatings: list[Gating] = []
        rows_of: dict[int, list[int]] = {}  # id(gating) -> its rows in the batch

        def gating(kind: str, rows: list[int], sources: list[str]) -> Gating:
            made = Gating(self.generator, kind, [keys[i] for i in rows], sources)
            gatings.append(made)
            rows_of[id(made)] = rows
            return made

        def follow(done: Gating, settled: list[int]) -> list[Gating]:
            """The Moral Education articles of the dialogues that just passed their gates (none when
            `generation.moral_education` is off)."""
            if MORAL_EDUCATION not in self.cfg.generation.kinds:
                return []
            passed = [r for r in settled if done.kind == REFUSEWEB and done.drafts[r].text is not None]
            if not passed:
                return []
            rows = rows_of[id(done)]
            return [gating(MORAL_EDUCATION, [rows[r] for r in passed], [done.drafts[r].text for r in passed])]

        first = [gating(SAFEWEB, todo["rephrase"], [texts[i] for i in todo["rephrase"]]),
                 gating(REFUSEWEB, todo["refuse"], [texts[i] for i in todo["refuse"]])]
        self.generator.settle(first, score=self.judge.score, similarity=self.judge.similarity, follow=follow)
        tokens = sum(sum(g.tokens) for g in gatings)
        per_token = (time.perf_counter() - started) / tokens if tokens else 0.0
        for made in gatings:
            for i, draft in zip(rows_of[id(made)], made.drafts, strict=True):
                _fill(columns, PREFIX[made.kind], i, draft, per_token)


def _fill(columns: dict, prefix: str, i: int, draft, per_token: float) -> None:
    """Row `i`'s columns of one generated kind from its draft; its seconds are the engine time of its tokens."""
    columns[f"{prefix}_text"][i], columns[f"{prefix}_score"][i] = draft.text, draft.score
    columns[f"{prefix}_tokens"][i], columns[f"{prefix}_attempts"][i] = draft.tokens, draft.attempts
    columns[f"{prefix}_gate"][i], columns[f"{prefix}_failed_text"][i] = draft.reason, draft.failed_text
    columns[f"{prefix}_similarity"][i] = draft.similarity
    columns[f"seconds_{prefix}"][i] = draft.tokens * per_token
    if prefix == PREFIX[SAFEWEB]:
        columns["template"][i] = draft.template
