"""The curation run: plan shards, stream their rows through Ray Data model stages, commit each shard.

Rows carry their shard and row index through the stream; only scores come back to the driver,
which counts rows per shard and hands a shard to a commit task once all its rows are scored.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from curation import faults
from curation.commit import GENERATED, SCORE_SCHEMA, clean_temporaries, commit_shard, is_committed, manifest_path
from curation.config import Config, StageResources
from curation.faults import fault_point
from curation.route import routes, safety_scores
from curation.shards import Shard, ShardError, find_shards, inspect_shard, read_task_rows, read_tasks, shard_stem
from curation.spill import SPILL_DIR, open_spill
from curation.storage import PendingParquet, Store

log = logging.getLogger("safecurate")


# ---------------------------------------------------------------- stages (run in Ray workers)

def read_stage(batch: pa.Table, cfg: dict) -> pa.Table:
    """CPU task: read and validate the rows of each read task in the batch."""
    input_cfg = Config.model_validate(cfg).input
    fault_point("read.task")
    return pa.concat_tables([read_task_rows(task, input_cfg) for task in batch.to_pylist()])


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class EmbedStage:
    """Actor: the embedding classifier, loaded once, scores the valid rows of each batch."""

    def __init__(self, cfg: dict, threads: int):
        from curation.embed import EmbeddingClassifier

        _set_threads(threads)
        config = Config.model_validate(cfg)
        self.classifier = EmbeddingClassifier(config.scoring.embed, config.resources.embed.batch_size)
        self.reflector = None
        if config.reflections.enabled:
            from curation.reflect import Reflector

            self.reflector = Reflector(self.classifier, config.reflections)

    def _score(self, texts: list[str]):
        for text in texts:
            fault_point("embed.row", text)
        return self.classifier.score(texts)

    def __call__(self, batch: pa.Table) -> pa.Table:
        fault_point("embed.batch")
        started = time.perf_counter()
        valid = [i for i, r in enumerate(batch["reason"].to_pylist()) if r is None]
        texts = batch["text"].to_pylist()
        reasons = batch["reason"].to_pylist()
        scores, probs, tokens = [None] * batch.num_rows, [None] * batch.num_rows, [None] * batch.num_rows
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
            scores[i], probs[i], tokens[i] = int(score), float(prob), int(count)
        if self.reflector is not None:
            batch = self._reflect(batch, [i for i in valid if scores[i] is not None])
        per_row = (time.perf_counter() - started) / max(1, batch.num_rows)
        batch = batch.set_column(batch.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string()))
        return (batch.append_column("embed_score", pa.array(scores, pa.int64()))
                .append_column("embed_prob", pa.array(probs, pa.float64()))
                .append_column("tokens", pa.array(tokens, pa.int64()))
                .append_column("seconds_embed", pa.array([per_row] * batch.num_rows, pa.float64())))


    def _reflect(self, batch: pa.Table, rows: list[int]) -> pa.Table:
        """Reflection columns: the text with a Safe/Unsafe reflection after each segment."""
        n = batch.num_rows
        text, segments, unsafe = [None] * n, [None] * n, [None] * n
        texts = batch["text"].to_pylist()
        try:
            for i, (annotated, count, bad) in zip(rows, self.reflector.annotate([texts[i] for i in rows]),
                                                  strict=True):
                text[i], segments[i], unsafe[i] = annotated, count, bad
        except Exception:  # noqa: BLE001 - reflections are an extra output; scores stand without them
            log.exception("reflections failed on a batch")
        return (batch.append_column("reflection_text", pa.array(text, pa.string()))
                .append_column("reflection_segments", pa.array(segments, pa.int64()))
                .append_column("reflection_unsafe", pa.array(unsafe, pa.int64())))


class LLMStage:
    """Actor: the LLM rubric scorer, one engine per actor, scores the valid rows of each batch."""

    def __init__(self, cfg: dict, threads: int):
        from curation.llm_scorer import RubricScorer

        _set_threads(threads)
        config = Config.model_validate(cfg)
        self.scorer = RubricScorer(config.scoring.llm, seed=config.seed)

    def __call__(self, batch: pa.Table) -> pa.Table:
        fault_point("llm.batch")
        started = time.perf_counter()
        n = batch.num_rows
        valid = [i for i, r in enumerate(batch["reason"].to_pylist()) if r is None]
        texts = batch["text"].to_pylist()
        score, reason, confidence, invalid = [None] * n, [None] * n, [None] * n, [None] * n
        try:
            verdicts = self.scorer.score([texts[i] for i in valid])
        except Exception:  # noqa: BLE001 - an engine failure leaves the embedding score in charge
            log.exception("LLM scorer failed on a batch")
            verdicts = [None] * len(valid)
        for i, verdict in zip(valid, verdicts, strict=True):
            invalid[i] = verdict is None or verdict.score is None
            if verdict is not None:
                score[i], reason[i], confidence[i] = verdict.score, verdict.reason, verdict.confidence
        per_row = (time.perf_counter() - started) / max(1, n)
        return (batch.append_column("llm_score", pa.array(score, pa.int64()))
                .append_column("llm_reason", pa.array(reason, pa.string()))
                .append_column("llm_confidence", pa.array(confidence, pa.float64()))
                .append_column("llm_invalid", pa.array(invalid, pa.bool_()))
                .append_column("seconds_llm", pa.array([per_row] * n, pa.float64())))


GENERATION_COLUMNS = [f for f in SCORE_SCHEMA if f.name == "template" or f.name.split("_")[0] in GENERATED.values()
                      or f.name in [f"seconds_{p}" for p in GENERATED.values()]]
"""The columns a generate batch writes per row, and a checkpoint keeps."""
CHECKPOINT_SCHEMA = pa.schema([("shard", pa.string()), ("row_index", pa.int64()), ("text_sha", pa.string()),
                               ("route", pa.string()), *GENERATION_COLUMNS])


class GenerateStage:
    """Actor: rewrites routed rows (SafeWeb for `rephrase`; RefuseWeb, then Moral Education for `refuse`),
    gates and re-scores every text, and checkpoints finished rows so that a re-run does not redo them."""

    def __init__(self, cfg: dict, threads: int, out: str):
        from curation.checkpoint import Checkpoints
        from curation.engine import chat_model_dir
        from curation.generate import Generator
        from curation.judge import SafetyJudge

        _set_threads(threads)
        self.cfg = Config.model_validate(cfg)
        self.generator = Generator(self.cfg, seed=self.cfg.seed)
        llm = self.cfg.scoring.llm
        same = chat_model_dir(self.cfg.generation.model, llm.model) == chat_model_dir(llm.model)
        self.judge = SafetyJudge(self.cfg, llm=self.generator.llm if same else None)
        self.checkpoints = Checkpoints(out, self.cfg.content_hash())

    def __call__(self, batch: pa.Table) -> pa.Table:
        from curation.checkpoint import text_digest

        fault_point("generate.batch")
        started = time.perf_counter()
        view = score_columns(batch)
        route = routes(safety_scores(view["embed_score"], view["llm_score"], view["llm_confidence"], self.cfg),
                       self.cfg).to_pylist()
        shards, rows = view["shard"].to_pylist(), view["row_index"].to_pylist()
        keys = [f"{s}/{i}" for s, i in zip(shards, rows, strict=True)]
        texts = batch["text"].to_pylist()
        n, valid = batch.num_rows, [r is None for r in view["reason"].to_pylist()]
        columns = {f.name: [None] * n for f in GENERATION_COLUMNS}
        reused = [False] * n
        todo = {"rephrase": [], "refuse": []}
        for i in range(n):
            if not valid[i] or route[i] not in todo:
                continue
            found = self.checkpoints.lookup(shards[i], rows[i], texts[i], route[i])
            if found is None:
                todo[route[i]].append(i)
                continue
            reused[i] = True
            for name in columns:
                columns[name][i] = found[name]
        failed = self._generate(todo, keys, texts, columns)
        fresh = [i for i in todo["rephrase"] + todo["refuse"] if i not in failed]  # an error is retried on re-run
        if fresh:
            self.checkpoints.save(pa.table({
                "shard": [shards[i] for i in fresh], "row_index": [rows[i] for i in fresh],
                "text_sha": [text_digest(texts[i]) for i in fresh], "route": [route[i] for i in fresh],
                **{name: [values[i] for i in fresh] for name, values in columns.items()},
            }, schema=CHECKPOINT_SCHEMA))
        per_row = (time.perf_counter() - started) / max(1, n)
        for f in GENERATION_COLUMNS:
            batch = batch.append_column(f.name, pa.array(columns[f.name], f.type))
        return (batch.append_column("generation_reused", pa.array(reused, pa.bool_()))
                .append_column("seconds_generate", pa.array([per_row] * n, pa.float64())))

    def _generate(self, todo: dict[str, list[int]], keys: list[str], texts: list[str], columns: dict) -> set[int]:
        """Write, gate and re-score the texts of the rows in `todo`, filling `columns` in place.

        A stage that raises marks its rows `error:<Type>`: they go to rejects/ like a gate failure, and
        come back in the returned set (they are not checkpointed, so a re-run tries them again).
        """
        failed: set[int] = set()
        plan = [("safeweb", todo["rephrase"], texts), ("refuseweb", todo["refuse"], texts),
                ("moral_education", None, None)]
        for kind, rows, sources in plan:
            prefix = GENERATED[kind]
            if kind == "moral_education":  # made from the dialogues that passed their gates
                rows = [i for i in todo["refuse"] if columns["refuseweb_text"][i] is not None]
                sources = columns["refuseweb_text"]
            if not rows:
                continue
            started = time.perf_counter()
            try:
                drafts = self.generator.gated(kind, [keys[i] for i in rows], [sources[i] for i in rows],
                                              score=self.rescore)
            except Exception as exc:  # noqa: BLE001 - these rows are rejected with the error; the batch goes on
                log.exception("%s generation failed on a batch", kind)
                for i in rows:
                    columns[f"{prefix}_gate"][i] = f"error:{type(exc).__name__}"
                failed.update(rows)
                continue
            seconds = (time.perf_counter() - started) / len(rows)
            for i, draft in zip(rows, drafts, strict=True):
                columns[f"{prefix}_text"][i], columns[f"{prefix}_score"][i] = draft.text, draft.score
                columns[f"{prefix}_tokens"][i], columns[f"{prefix}_attempts"][i] = draft.tokens, draft.attempts
                columns[f"{prefix}_gate"][i], columns[f"{prefix}_failed_text"][i] = draft.reason, draft.failed_text
                columns[f"seconds_{prefix}"][i] = seconds
                if kind == "safeweb":
                    columns["template"][i] = draft.template
        return failed

    def rescore(self, texts: list[str]) -> list[int]:
        """The safety score of each generated text, by the same scorers and ensemble as the documents."""
        return self.judge.score(texts)


def score_columns(batch: pa.Table) -> pa.Table:
    """The driver's view of a batch: SCORE_SCHEMA, with absent stages as nulls."""
    columns = [batch[f.name].cast(f.type) if f.name in batch.column_names else pa.nulls(batch.num_rows, f.type)
               for f in SCORE_SCHEMA]
    return pa.Table.from_arrays(columns, schema=SCORE_SCHEMA)


# ---------------------------------------------------------------- driver

@dataclass
class RunSummary:
    """What a run did, shard by shard."""

    committed: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def plan_shards(pattern: str, cfg: Config, summary: RunSummary) -> list[Shard]:
    """Inspect every matching shard; unreadable ones are recorded as failed, the rest planned."""
    shards = []
    for path in find_shards(pattern):
        try:
            shards.append(inspect_shard(path, cfg.input))
        except ShardError as exc:
            summary.failed[path] = exc.problem
    stems: dict[str, str] = {}
    for shard in shards:
        if shard.stem in stems:
            raise ValueError(f"two shards would write the same outputs {shard.stem!r}: "
                             f"{stems[shard.stem]} and {shard.path}; rename one")
        stems[shard.stem] = shard.path
    return shards


def start_ray(cfg: Config) -> bool:
    """Attach to cfg.ray.address or start a local Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if cfg.ray.address:
        ray.init(address=cfg.ray.address, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=cfg.ray.num_cpus or (os.cpu_count() or 1) + 2, include_dashboard=False,
                 object_store_memory=int(cfg.ray.object_store_gib * 2**30), logging_level=logging.WARNING)
    return True


def _pool(res: StageResources):
    import ray

    if isinstance(res.actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=res.actors[0], max_size=res.actors[1])
    return ray.data.ActorPoolStrategy(size=res.actors)


def _threads(res: StageResources) -> int:
    return res.threads or max(1, math.ceil(res.num_cpus))


def _actor_stage(ds, stage: type, res: StageResources, cfg_json: dict, **kwargs):
    """`ds` through a pool of `stage` actors. The thread count is also put in the actor's environment:
    OpenMP gives every thread the environment's count, not the one torch set in the constructor's
    thread, and vLLM's CPU attention fails when the thread that builds its metadata and the one that
    runs the kernel disagree (Ray sets OMP_NUM_THREADS=1 for actors with fractional CPUs)."""
    threads = _threads(res)
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} | faults.environment()
    return ds.map_batches(stage, batch_size=res.batch_size, batch_format="pyarrow",
                          fn_constructor_kwargs={"cfg": cfg_json, "threads": threads, **kwargs},
                          compute=_pool(res), num_cpus=res.num_cpus, num_gpus=res.num_gpus,
                          runtime_env={"env_vars": env})


def build_dataset(shards: list[Shard], cfg: Config, out: str):
    """The Ray Data stream: read tasks -> validated rows -> embedding scores (+ reflections) -> LLM scores
    -> generated texts for routed rows."""
    import ray

    tasks = [t for s in shards for t in read_tasks(s, cfg.resources.read_rows_per_task)]
    cfg_json = cfg.model_dump(mode="json")
    res = cfg.resources
    ds = ray.data.from_items(tasks, override_num_blocks=len(tasks))
    ds = ds.map_batches(read_stage, batch_size=1, batch_format="pyarrow", fn_kwargs={"cfg": cfg_json},
                        num_cpus=res.read_num_cpus)
    ds = _actor_stage(ds, EmbedStage, res.embed, cfg_json)
    if cfg.scoring.llm.enabled:
        ds = _actor_stage(ds, LLMStage, res.llm, cfg_json)
    if cfg.generation.enabled:
        ds = _actor_stage(ds, GenerateStage, res.generate, cfg_json, out=out)
    return ds.drop_columns(["text"])


def _log_commit(summary: RunSummary, shard: Shard, manifest: dict, say) -> None:
    summary.committed[shard.stem] = manifest
    counts, routes = manifest["counts"], manifest["routes"]
    say(f"committed {shard.stem}: {counts['scored']} scored, {counts['rejected']} rejected, "
        f"{manifest['seconds']:.1f}s, routes keep={routes['keep']} rephrase={routes['rephrase']} "
        f"refuse={routes['refuse']}"
        + (f", {manifest['generation_reused']} generated rows reused from checkpoints"
           if manifest.get("generation_reused") else ""))


def run_curation(pattern: str, out: str, cfg: Config, progress: bool = True) -> RunSummary:
    """Curate every shard matching `pattern` into `out`; committed shards are skipped."""
    import ray
    from tqdm import tqdm

    started = time.time()
    store = Store(out)
    store.make_folders("")
    clean_temporaries(store)
    store.delete_folder(SPILL_DIR)  # score spills of an earlier run that did not commit
    summary = RunSummary()
    config_hash = cfg.content_hash()
    todo = []
    for shard in plan_shards(pattern, cfg, summary):
        if is_committed(store, shard, config_hash):
            summary.skipped.append(shard.stem)
        else:
            store.delete(manifest_path(shard.stem))  # uncommitted until redone
            todo.append(shard)
    bar = tqdm(total=sum(s.num_rows for s in todo), unit="row", disable=not progress or None,
               desc="curating")
    say = bar.write if progress else log.info
    if summary.skipped:
        say(f"skipping {len(summary.skipped)} committed shard(s)")
    if not todo:
        bar.close()
        record_failures(store, summary)
        summary.seconds = time.time() - started
        return summary

    started_ray = start_ray(cfg)
    spills: dict[str, PendingParquet] = {}  # score rows of the shards in flight go to disk, not to memory
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # one bar for the run, drawn here
        ctx.print_on_execution_start = False
        ctx.execution_no_progress_timeout_s = cfg.ray.no_progress_timeout_s
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        commit = ray.remote(commit_shard).options(num_cpus=cfg.resources.read_num_cpus, max_retries=2)
        cfg_ref = ray.put(cfg)
        by_stem = {s.stem: s for s in todo}
        seen = dict.fromkeys(by_stem, 0)
        pending = {}

        def submit(stem: str) -> None:
            (spills.pop(stem, None) or open_spill(store, stem, SCORE_SCHEMA)).commit()
            pending[commit.remote(by_stem[stem], cfg_ref, store.location)] = by_stem[stem]

        def collect(block: bool) -> None:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=None if block else 0)
                if not ready:
                    return
                shard = pending.pop(ready[0])
                try:
                    _log_commit(summary, shard, ray.get(ready[0]), say)
                except Exception as exc:  # noqa: BLE001 - one shard's failure must not stop the others
                    summary.failed[shard.path] = f"commit failed: {exc}"

        for shard in todo:
            if shard.num_rows == 0:
                submit(shard.stem)
        live = [s for s in todo if s.num_rows]
        if live:
            for batch in build_dataset(live, cfg, store.location).iter_batches(batch_format="pyarrow", batch_size=None):
                fault_point("driver.batch")
                batch = score_columns(batch)
                for stem in pc.unique(batch["shard"]).to_pylist():
                    part = batch.filter(pc.equal(batch["shard"], stem))
                    if stem not in spills:
                        spills[stem] = open_spill(store, stem, SCORE_SCHEMA)
                    spills[stem].write(part)
                    seen[stem] += part.num_rows
                    if seen[stem] == by_stem[stem].num_rows:
                        submit(stem)
                bar.update(batch.num_rows)
                collect(block=False)
        collect(block=True)
        for stem, shard in by_stem.items():
            if stem not in summary.committed and shard.path not in summary.failed:
                summary.failed[shard.path] = f"only {seen[stem]} of {shard.num_rows} rows came back"
    finally:
        for spill in spills.values():  # shards whose rows did not all come back
            spill.abort()
        store.delete_folder(SPILL_DIR)  # a committed shard's spill is gone already; a failed one's is of no use
        bar.close()
        if started_ray:
            ray.shutdown()
    record_failures(store, summary)
    summary.seconds = time.time() - started
    return summary


def record_failures(store: Store, summary: RunSummary) -> None:
    """`OUT/_failed/S.json` for each shard that failed this run (reason, when, how many runs in a row it has
    failed); the record of a shard that committed is removed. A re-run redoes exactly the uncommitted shards."""
    for stem in summary.committed:
        store.delete(f"_failed/{stem}.json")
    for path, reason in summary.failed.items():
        record = f"_failed/{shard_stem(path)}.json"
        previous = json.loads(store.read_bytes(record) or b"{}")
        store.write_bytes(record, json.dumps({
            "shard": str(path), "reason": reason, "failed_runs": previous.get("failed_runs", 0) + 1,
            "last_failed_at": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2).encode())
