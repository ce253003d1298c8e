"""The curation run: plan shards, stream their rows through the model stages, commit each shard.

Rows carry their shard and row index through the stream; only scores come back to the driver, which spills
them per shard and hands a shard to a commit task once all its rows are back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Config
from curation.faults import fault_point
from curation.io.shards import Shard, ShardError, find_shards, inspect_shard
from curation.io.spill import SPILL_DIR, open_spill
from curation.io.storage import PendingParquet, Store
from curation.run.commit import clean_temporaries, commit_shard, is_committed, manifest_path
from curation.run.console import terminal
from curation.run.dataset import build_dataset, score_columns
from curation.run.failures import RunSummary, record_failures
from curation.run.interrupt import STOP
from curation.run.ray_setup import (
    configure_data_context,
    describe_placement,
    placement_problems,
    start_placements,
    start_ray,
)
from curation.schema import PREFIX, SCORE_SCHEMA

log = logging.getLogger("safecurate")
Say = Callable[[str], object]


def run_curation(pattern: str, out: str, cfg: Config, progress: bool = True) -> RunSummary:
    """Curate every shard matching `pattern` into `out`; committed shards are skipped."""
    from tqdm import tqdm

    started = time.time()
    store = prepare_output(out)
    summary = RunSummary()
    todo = shards_to_do(pattern, cfg, store, summary)
    bar = tqdm(total=sum(s.num_rows for s in todo), unit="row", disable=not progress or None, desc="curating",
               file=terminal(err=True))
    say = (lambda line: bar.write(line, file=terminal(err=True))) if progress else log.info
    if summary.skipped:
        say(f"skipping {len(summary.skipped)} committed shard(s)")
    try:
        if todo:
            stream_and_commit(todo, cfg, store, summary, bar, say)
    finally:
        bar.close()
    if STOP.is_set():
        return summary  # stopped: what is not committed is not failed, only left to do
    record_failures(store, summary)
    summary.seconds = time.time() - started
    return summary


def prepare_output(out: str) -> Store:
    """The output store, without the temporaries and score spills of an earlier run that did not finish."""
    store = Store(out)
    store.make_folders("")
    clean_temporaries(store)
    store.delete_folder(SPILL_DIR)
    return store


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


def shards_to_do(pattern: str, cfg: Config, store: Store, summary: RunSummary) -> list[Shard]:
    """The planned shards not yet committed with this config; a shard to redo loses its old manifest first."""
    todo = []
    config_hash = cfg.content_hash()
    for shard in plan_shards(pattern, cfg, summary):
        if is_committed(store, shard, config_hash):
            summary.skipped.append(shard.stem)
        else:
            store.delete(manifest_path(shard.stem))  # uncommitted until redone
            todo.append(shard)
    return todo


def stream_and_commit(todo: list[Shard], cfg: Config, store: Store, summary: RunSummary, bar, say: Say) -> None:
    """Start Ray, stream every row of `todo` through the stages, commit each shard as its last row comes back."""
    import ray

    started_ray = start_ray(cfg)
    if cfg.ray.address:  # on a cluster: refuse a profile its nodes cannot hold before any work starts
        from curation.tools.check import check_placement, live_nodes

        say(check_placement(cfg, live_nodes()))
    commits = ShardCommits(todo, cfg, store, summary, say)
    placements = start_placements()
    try:
        configure_data_context(cfg)
        for shard in todo:
            if shard.num_rows == 0:
                commits.submit(shard.stem)
        live = [s for s in todo if s.num_rows]
        try:
            if live:
                for batch in build_dataset(live, cfg, store.location, placements).iter_batches(
                        batch_format="pyarrow", batch_size=None):
                    if STOP.is_set():
                        return  # stopped by a signal: no new batch; uncommitted shards stay to do
                    fault_point("driver.batch")
                    commits.add(score_columns(batch))
                    bar.update(batch.num_rows)
                    commits.collect(block=False)
        except Exception as exc:  # noqa: BLE001 - e.g. an actor that keeps dying: the shards in flight fail
            if STOP.is_set():
                return  # Ray was shut down under the stream by a stop
            log.exception("the stream of rows failed")
            commits.fail_in_flight(f"stream failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        commits.collect(block=True)
        commits.account_for_missing_rows()
    finally:
        record_placements(placements, summary, say)
        commits.close()
        if started_ray:
            ray.shutdown()


def record_placements(placements, summary: RunSummary, say: Say) -> None:
    """Where each stage actor ran (node, GPU ids, CUDA devices seen) into the summary and a line each into the run
    log; on the console, a line per stage whose GPUs and reservation disagree."""
    import ray

    try:
        summary.actors = ray.get(placements.all.remote(), timeout=30)
        ray.kill(placements)
    except Exception:  # noqa: BLE001 - e.g. Ray stopped under a signal; the record is not worth failing the run
        log.debug("the actors' placements could not be read", exc_info=True)
        return
    for record in summary.actors:
        logging.getLogger("curation.ray").info(describe_placement(record))
    for line in placement_problems(summary.actors):
        say(line)


class StageHealth:
    """What each stage lost of one shard's rows: rows it rejected or nulled, and the first batch error."""

    def __init__(self):
        self.lost: dict[str, int] = {}
        self.why: dict[str, str] = {}
        self.error: str | None = None

    def count(self, batch: pa.Table) -> None:
        if self.error is None and batch["stage_error"].null_count < batch.num_rows:
            self.error = next(e for e in batch["stage_error"].to_pylist() if e is not None)
        reasons = [r or "" for r in batch["reason"].to_pylist()]
        lost = {
            "read": [r for r in reasons if r.startswith("unreadable_row_group")],
            "embed": [r for r in reasons if r.startswith("embed_error")],
            "llm": ["unparseable reply" for v in batch["llm_invalid"].to_pylist() if v],
            "reflections": [e for e in batch["reflection_error"].to_pylist() if e],
            "generate": [g for prefix in PREFIX.values() for g in batch[f"{prefix}_gate"].to_pylist()
                         if g and g.startswith("error:")],
        }
        for stage, rows in lost.items():
            if rows:
                self.lost[stage] = self.lost.get(stage, 0) + len(rows)
                self.why.setdefault(stage, rows[0])

    def problem(self, rows: int, max_share: float) -> str | None:
        """Why the shard fails, or None: a batch a stage could not process, or a stage that lost too many rows."""
        if self.error is not None:
            return self.error
        for stage, lost in self.lost.items():
            if lost > max_share * rows:
                return (f"stage {stage}: {lost} of {rows} rows rejected or nulled ({self.why[stage]}), more than "
                        f"failures.max_stage_share={max_share}")
        return None


class ShardCommits:
    """The shards in flight: their score rows spilled to disk as they come back, a commit task per shard once
    all its rows are there, and each commit's outcome recorded in the run summary."""

    def __init__(self, todo: list[Shard], cfg: Config, store: Store, summary: RunSummary, say: Say):
        import ray

        self.store, self.summary, self.say = store, summary, say
        self.by_stem = {s.stem: s for s in todo}
        self.seen = dict.fromkeys(self.by_stem, 0)
        self.spills: dict[str, PendingParquet] = {}
        self.pending: dict = {}
        self.health = {stem: StageHealth() for stem in self.by_stem}
        self.max_share = cfg.failures.max_stage_share
        self.commit = ray.remote(commit_shard).options(num_cpus=cfg.resources.read_num_cpus, max_retries=2)
        self.cfg_ref = ray.put(cfg)

    def add(self, batch: pa.Table) -> None:
        """Spill a batch's rows by shard; submit each shard whose rows are now all back."""
        for stem in pc.unique(batch["shard"]).to_pylist():
            part = batch.filter(pc.equal(batch["shard"], stem))
            if stem not in self.spills:
                self.spills[stem] = open_spill(self.store, stem, SCORE_SCHEMA)
            self.spills[stem].write(part)
            self.seen[stem] += part.num_rows
            self.health[stem].count(part)
            if self.seen[stem] == self.by_stem[stem].num_rows:
                problem = self.health[stem].problem(self.seen[stem], self.max_share)
                if problem is None:
                    self.submit(stem)
                else:
                    self.fail(stem, problem)

    def fail(self, stem: str, problem: str) -> None:
        """A stage failed on this shard: it is not committed, its score rows are dropped."""
        spill = self.spills.pop(stem, None)
        if spill is not None:
            spill.abort()
        shard = self.by_stem[stem]
        self.summary.failed[shard.path] = problem
        self.say(f"failed {stem}: {problem}")

    def submit(self, stem: str) -> None:
        (self.spills.pop(stem, None) or open_spill(self.store, stem, SCORE_SCHEMA)).commit()
        shard = self.by_stem[stem]
        self.pending[self.commit.remote(shard, self.cfg_ref, self.store.location)] = shard

    def collect(self, block: bool) -> None:
        """Record the commits that finished (all of them, waiting, when `block`)."""
        import ray

        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=None if block else 0)
            if not ready:
                return
            shard = self.pending.pop(ready[0])
            try:
                self.committed(shard, ray.get(ready[0]))
            except Exception as exc:  # noqa: BLE001 - one shard's failure must not stop the others
                self.summary.failed[shard.path] = f"commit failed: {exc}"

    def committed(self, shard: Shard, manifest: dict) -> None:
        self.summary.committed[shard.stem] = manifest
        counts, routes = manifest["counts"], manifest["routes"]
        self.say(f"committed {shard.stem}: {counts['scored']} scored, {counts['rejected']} rejected, "
                 f"{manifest['seconds']:.1f}s, routes keep={routes['keep']} rephrase={routes['rephrase']} "
                 f"refuse={routes['refuse']}"
                 + (f", {manifest['generation_reused']} generated rows reused from checkpoints"
                    if manifest.get("generation_reused") else ""))

    def fail_in_flight(self, problem: str) -> None:
        """Every shard not yet handed to a commit fails with `problem`."""
        for stem, shard in self.by_stem.items():
            if self.seen[stem] < shard.num_rows and shard.path not in self.summary.failed:
                self.fail(stem, problem)

    def account_for_missing_rows(self) -> None:
        """A shard neither committed nor failed lost rows in the stream: it fails."""
        for stem, shard in self.by_stem.items():
            if stem not in self.summary.committed and shard.path not in self.summary.failed:
                self.summary.failed[shard.path] = f"only {self.seen[stem]} of {shard.num_rows} rows came back"

    def close(self) -> None:
        """Drop the spills of shards whose rows did not all come back, and the spill folder."""
        for spill in self.spills.values():
            spill.abort()
        self.store.delete_folder(SPILL_DIR)
