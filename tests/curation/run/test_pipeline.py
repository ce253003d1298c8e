"""End-to-end curation on local Ray with the packaged encoder and head (LLM scorer off for speed)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.models.encoder import DEFAULT_HEAD
from curation.run.driver import run_curation

pytestmark = pytest.mark.timeout(300)

SAFE = [
    "Preheat the oven and butter a loaf tin. Mix flour, sugar and mashed bananas, then bake for an hour.",
    "The library opens a new reading room for children on Saturday with free story hours.",
    "Our cycling club meets every Sunday morning at the park gate for a relaxed thirty mile ride.",
]
UNSAFE = [
    "I know where you live and I will come to your house tonight and hurt your whole family.",
    "Those people are vermin and should be wiped out, every last one of them deserves to die.",
]
BAD = [None, "", "   "]


def head_threshold() -> float:
    """The packaged head's threshold of P(score >= 2) (the default config takes it from head.json)."""
    return json.loads((DEFAULT_HEAD / "head.json").read_text())["level_thresholds"][1]


def fast_config(*extra):
    return load_config(None, ["scoring.llm.enabled=false", "generation.enabled=false", "resources.embed.batch_size=16",
                              "resources.read_rows_per_task=8", "report.ngrams=false", *extra])


def shard_columns(n_good: int, with_id: bool):
    texts = [(SAFE + UNSAFE)[i % 5] + f" (copy {i})" for i in range(n_good)] + BAD
    columns = {"text": texts, "lang": ["en"] * len(texts)}
    if with_id:
        columns["id"] = [f"doc-{i}" for i in range(len(texts))]
    return columns


def output_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_every_row_is_scored_or_rejected_and_rerun_changes_nothing(ray_local, write_shard, tmp_path):
    for k in range(3):
        write_shard(f"part-{k}", shard_columns(12 + k, with_id=k != 1))
    out = tmp_path / "out"
    cfg = fast_config("report.ngrams=true")
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(out), cfg, progress=False)
    assert summary.ok and len(summary.committed) == 3

    for k in range(3):
        stem = f"part-{k}"
        rows_in = pq.read_metadata(tmp_path / "in" / f"{stem}.parquet").num_rows
        scored = pq.read_table(out / "scored" / f"{stem}.parquet")
        rejects = pq.read_table(out / "rejects" / f"{stem}.parquet")
        assert scored.num_rows + rejects.num_rows == rows_in
        assert rejects.num_rows == 3
        assert sorted(rejects["reason"].to_pylist()) == ["empty_text", "empty_text", "null_text"]
        assert {"id", "text", "safety_score", "llm_score", "llm_reason", "embed_score", "route", "lang"} <= set(
            scored.column_names)
        ids = scored["id"].to_pylist()
        assert len(set(ids)) == len(ids)
        if k == 1:
            assert ids[0] == f"{stem}/0"  # derived from shard name + row index
        scores = scored["safety_score"].to_pylist()
        assert all(0 <= s <= 5 for s in scores)
        assert scores == scored["embed_score"].to_pylist()  # LLM off: the embedding score alone
        probs = scored["safety_prob"].to_pylist()  # P(score >= 2): thresholding it gives the integer's flag
        threshold = head_threshold()
        assert all(0.0 <= p <= 1.0 for p in probs)
        clear = [(p, s) for p, s in zip(probs, scores, strict=True) if abs(p - threshold) > 1e-4]  # 4 decimals
        assert all((p >= threshold) == (s >= 2) for p, s in clear)
        assert max(p for p, t in zip(probs, scored["text"].to_pylist(), strict=True) if t.startswith(UNSAFE[0])) > \
            max(p for p, t in zip(probs, scored["text"].to_pylist(), strict=True) if t.startswith(SAFE[0]))
        manifest = json.loads((out / "_manifest" / f"{stem}.json").read_text())
        assert manifest["config_hash"] == cfg.content_hash()
        assert manifest["counts"] == {"in": rows_in, "scored": scored.num_rows, "rejected": 3, "generated_rejected": 0}
        card = json.loads((out / "reports" / f"{stem}.json").read_text())
        assert card["rows"]["in"] == rows_in and card["config_hash"] == cfg.content_hash()
        assert sum(card["histograms"]["safety_score"].values()) == scored.num_rows
        assert (out / "reports" / f"{stem}.md").read_text().startswith("# Safety report card")
        reflections = pq.read_table(out / "reflections" / f"{stem}.parquet")
        assert sorted(reflections["source_id"].to_pylist()) == sorted(str(i) for i in ids)
        assert all(t.count("<reflection>") == n for t, n in zip(reflections["text"].to_pylist(),
                                                                reflections["segments"].to_pylist(), strict=True))
        assert card["reflections"]["rows"] == scored.num_rows
        slices = card["ngrams"]["slices"]
        assert sum(slices[b]["documents"] for b in ("raw_0", "raw_1_3", "raw_4_5")) == scored.num_rows
        assert slices["raw_4_5"]["documents"] == sum(s >= 4 for s in scores)
        page = (out / "reports" / f"{stem}.html").read_text()
        assert page.startswith("<!doctype html>") and f'<span id="shard">{stem}</span>' in page
        assert page.count("<svg") >= 2 and "<script" not in page  # plots inline, nothing fetched
        for folder in ("safeweb", "refuseweb", "moral_education"):  # generation off: empty, but present
            assert pq.read_table(out / folder / f"{stem}.parquet").num_rows == 0

    before = output_bytes(out)
    again = run_curation(str(tmp_path / "in" / "*.parquet"), str(out), cfg, progress=False)
    assert sorted(again.skipped) == ["part-0", "part-1", "part-2"] and not again.committed
    assert output_bytes(out) == before


def test_config_change_redoes_only_what_it_affects(ray_local, write_shard, tmp_path):
    write_shard("a", shard_columns(6, with_id=True))
    out = tmp_path / "out"
    run_curation(str(tmp_path / "in"), str(out), fast_config(), progress=False)
    redo = run_curation(str(tmp_path / "in"), str(out), fast_config("routing.keep_max=5",
                                                                   "routing.rephrase_max=5"), progress=False)
    assert list(redo.committed) == ["a"]
    routes = set(pq.read_table(out / "scored" / "a.parquet")["route"].to_pylist())
    assert routes == {"keep"}


def test_unreadable_shard_fails_alone(ray_local, write_shard, tmp_path):
    write_shard("good", shard_columns(5, with_id=False))
    (tmp_path / "in" / "broken.parquet").write_bytes(b"not a parquet file at all")
    write_shard("nocolumn", {"body": ["x", "y"]})
    out = tmp_path / "out"
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(out), fast_config(), progress=False)
    assert list(summary.committed) == ["good"]
    assert {Path(p).name for p in summary.failed} == {"broken.parquet", "nocolumn.parquet"}
    assert "no text column" in summary.failed[str(tmp_path / "in" / "nocolumn.parquet")]


def test_long_document_is_scored_by_its_worst_chunk(ray_local, write_shard, tmp_path):
    filler = " ".join(SAFE * 40)
    poison = " ".join(UNSAFE * 6)  # a paragraph of threats, far past the first 256 tokens
    write_shard("long", {"text": [filler, filler + " " + poison + " " + filler]})
    out = tmp_path / "out"
    run_curation(str(tmp_path / "in"), str(out), fast_config(), progress=False)
    scored = pq.read_table(out / "scored" / "long.parquet")
    clean, poisoned = scored["embed_score"].to_pylist()
    assert poisoned > clean


def test_zero_row_shard_commits_empty_outputs(ray_local, write_shard, tmp_path):
    write_shard("empty", {"text": pa_empty_strings()})
    out = tmp_path / "out"
    summary = run_curation(str(tmp_path / "in"), str(out), fast_config(), progress=False)
    assert list(summary.committed) == ["empty"]
    assert pq.read_table(out / "scored" / "empty.parquet").num_rows == 0


def pa_empty_strings():
    import pyarrow as pa

    return pa.array([], pa.string())


def test_a_stage_thread_count_holds_in_every_thread_of_its_actor(ray_local):
    """vLLM's CPU kernels fail when the thread that runs a batch sees another OpenMP thread count than
    the one that built the engine; the count set for a stage must hold in any thread of the actor."""
    import threading

    import pyarrow as pa
    import ray

    from curation.config import StageResources
    from curation.run.ray_setup import actor_stage

    class Threads:
        def __init__(self, cfg: dict, threads: int):
            import torch

            torch.set_num_threads(threads)

        def __call__(self, batch: pa.Table) -> pa.Table:
            import ctypes

            # OpenMP's own count, as vLLM's kernels read it (torch.get_num_threads resets it per thread)
            omp = next(line.split()[-1] for line in open("/proc/self/maps") if "libgomp" in line or "libiomp" in line)
            max_threads = ctypes.CDLL(omp).omp_get_max_threads
            seen = {}
            worker = threading.Thread(target=lambda: seen.update(other=max_threads()))
            worker.start()
            worker.join()
            return pa.table({"here": [max_threads()] * len(batch), "other": [seen["other"]] * len(batch)})

    ds = ray.data.from_items([{"x": i} for i in range(4)])
    rows = actor_stage(ds, Threads, StageResources(num_cpus=0.5, threads=3, batch_size=2), {}).take_all()
    assert {(row["here"], row["other"]) for row in rows} == {(3, 3)}


def test_a_shard_commits_row_group_by_row_group_with_the_outputs_of_one_piece(ray_local, write_shard, tmp_path):
    """The commit streams a shard by row groups (and the driver spills scores to disk): small row groups give
    the same rows, rejects (a duplicate id in another row group included), card and n-gram rates as one group."""
    columns = shard_columns(27, with_id=True)
    columns["id"][20] = columns["id"][3]  # a duplicate id five row groups later
    write_shard("pieces", columns, row_group_size=4)
    write_shard("whole", columns)
    out = tmp_path / "out"
    summary = run_curation(str(tmp_path / "in" / "*.parquet"), str(out), fast_config("report.ngrams=true"),
                           progress=False)
    assert summary.ok
    assert pq.ParquetFile(tmp_path / "in" / "pieces.parquet").num_row_groups == 8
    for folder in ("scored", "rejects", "reflections"):
        pieces, whole = (pq.read_table(out / folder / f"{stem}.parquet") for stem in ("pieces", "whole"))
        if folder == "scored":  # the encoder's last bits depend on what else shares its batch
            assert pieces["safety_prob"].to_pylist() == pytest.approx(whole["safety_prob"].to_pylist(), abs=1e-3)
            pieces, whole = pieces.drop_columns(["safety_prob"]), whole.drop_columns(["safety_prob"])
        assert pieces.equals(whole)
    rejects = pq.read_table(out / "rejects" / "pieces.parquet").to_pylist()
    assert [(r["row_index"], r["reason"]) for r in rejects if r["reason"] == "duplicate_id"] == [(20, "duplicate_id")]
    cards = [json.loads((out / "reports" / f"{stem}.json").read_text()) for stem in ("pieces", "whole")]
    for card in cards:
        for key in ("shard", "input", "seconds"):
            card.pop(key)
        card["ngrams"].pop("seconds")
    assert cards[0] == cards[1]
    assert not (out / "_scores").exists() or not list((out / "_scores").iterdir())
