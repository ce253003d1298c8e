"""Per-stage throughput and scaling, each stage inside the Ray pipeline against its model's bare loop, in one run.

Stages: validation (reading and checking rows), the embedding classifier, the LLM rubric scorer, each generator
(SafeWeb, RefuseWeb, Moral Education) and the report card's n-gram indexing. A stage's *bare loop* is its model
called in this process on the same texts, in the same batches, with the same threads as its actor; *in the
pipeline* is the same stage in `run_curation` on local Ray, runs of several sizes fitted as seconds = fixed +
rows / rate, so the rate excludes each run's fixed cost (Ray Data start, actor and model loads, the last commit),
which is reported apart; generators are timed inside their actor (the card's seconds). The headline per stage
is the ratio pipeline / bare.

Scaling: embedding-only runs over 1, 2, 4, 8 shards of the same size and over 1 and 2 embedding actors; the
cost of re-running on a fully committed output (resume).

`--gpu` runs every config as cluster/gpu.yaml sets it up (dtype, the engines' GPU memory share, batch sizes, the GPU
reservations: the encoder on a quarter of a GPU, each engine on what the encoder leaves of one, so one GPU holds
both pools) with one actor per pool, the packaged models and a local Ray. Stages that reserve no GPU (validation,
n-gram indexing) are labelled `cpu`.

    python -m benchmarks.throughput [--docs 320] [--llm-docs 24] [--gen-docs 4] [--ngram-docs 80] [--skip-llm]
                                    [--skip-generation] [--gpu] [--json benchmarks/results/throughput.json]

`safecurate plan` reads the JSON to cost a corpus.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import table, write_json
from curation.config import Config, load_config

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "curation" / "data" / "sample_corpus.jsonl"
PROFILE = ROOT / "cluster" / "gpu.yaml"
BASE = ["report.ngrams=false", "reflections.enabled=false", "generation.enabled=false", "scoring.llm.enabled=false"]
GPU = ["scoring.llm.model=null", "ray.address=null", "resources.embed.actors=1", "resources.llm.actors=1",
       "resources.generate.actors=1"]
"""Over cluster/gpu.yaml for `--gpu`: the packaged models (the profile's model folders live on cluster nodes), a
local Ray, one actor per pool (a per-actor rate, as `safecurate plan` reads it)."""


def bench_config(gpu: bool, *overrides: str) -> Config:
    """BASE and `overrides` over the CPU defaults or, with `gpu`, over cluster/gpu.yaml (see the module docstring):
    there the engines reserve what the encoder leaves of one GPU, their memory share staying the profile's."""
    if not gpu:
        return load_config(None, [*BASE, *overrides])
    cfg = load_config(PROFILE, [*BASE, *GPU, *overrides])
    share = 1 - cfg.resources.embed.num_gpus
    for pool in (cfg.resources.llm, cfg.resources.generate):
        pool.num_gpus = min(pool.num_gpus, share)
    return cfg


def engine_room(gpu: bool, cfg: Config, timeout: float = 120) -> None:
    """On the GPU, wait until an engine's memory share (and a little for an encoder) is free: the engine of a run
    that just ended may still be letting go of its KV cache, and vLLM refuses to start on less than its share."""
    if not gpu:
        return
    import torch

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        free, total = torch.cuda.mem_get_info()
        if free >= (cfg.scoring.llm.gpu_memory_utilization + 0.02) * total:
            return
        time.sleep(1)


GENERATION_RUN = ("generation.enabled=true", "generation.moral_education=true", "generation.gates.candidates=1",
                  "generation.gates.retries=0", "routing.keep_max=0")
"""The generator runs' settings: every generated kind, Moral Education too (off on the CPU default, but `safecurate
plan` costs it under a profile that turns it on), one candidate and no retry per row, nothing kept."""


def corpus(count: int) -> list[str]:
    """`count` documents: the bundled sample's texts in turn, each copy marked so no two are equal."""
    texts = [json.loads(line)["text"] for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [f"{texts[i % len(texts)]}\n(copy {i // len(texts)})" for i in range(count)]


def write_shards(folder: Path, texts: list[str], shards: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(texts) // shards)
    for k in range(shards):
        part = texts[k * per:(k + 1) * per]
        pq.write_table(pa.table({"id": [f"s{k}-{i}" for i in range(len(part))], "text": part}),
                       folder / f"part-{k:03d}.parquet", row_group_size=256)
    return str(folder / "*.parquet")


def pipeline_run(shards: str, out: Path, cfg: Config) -> dict:
    """One run_curation: rows, tokens and wall seconds (its cards too)."""
    from curation.run.driver import run_curation

    summary = run_curation(shards, str(out), cfg, progress=False)
    if not summary.ok:
        raise SystemExit(f"pipeline failed: {summary.failed}")
    cards = [json.loads((out / "reports" / f"{stem}.json").read_text()) for stem in summary.committed]
    return {"rows": sum(m["counts"]["in"] for m in summary.committed.values()),
            "tokens": sum(c["tokens"] for c in cards), "seconds": round(summary.seconds, 2), "cards": cards}


def fit(runs: list[dict]) -> dict:
    """seconds = fixed + rows / rate, by least squares over runs of different sizes: the run's fixed cost (Ray
    Data start, actor and model loads, the last commit) apart from its per-row rate."""
    xs, ys = [r["rows"] for r in runs], [r["seconds"] for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    tokens_per_row = sum(r["tokens"] for r in runs) / sum(xs)
    rate = 1 / slope if slope > 0 else None
    return {"runs": [{k: v for k, v in r.items() if k != "cards"} for r in runs],
            "fixed_seconds": round(my - slope * mx, 2), "docs_per_s": round(rate, 2) if rate else None,
            "tokens_per_s": round(rate * tokens_per_row, 1) if rate and tokens_per_row else None}


def timed(function, *args) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def bare_validation(shards: str, cfg: Config) -> dict:
    from curation.io.shards import find_shards, inspect_shard, read_task_rows, read_tasks

    tasks = [t for path in find_shards(shards) for t in read_tasks(inspect_shard(path, cfg.input),
                                                                      cfg.resources.read_rows_per_task)]
    tables, seconds = timed(lambda: [read_task_rows(t, cfg.input) for t in tasks])
    rows = sum(t.num_rows for t in tables)
    return {"rows": rows, "docs_per_s": round(rows / seconds, 1)}


def pipeline_validation(shards: str, cfg: Config) -> dict:
    """The read stage alone on Ray Data, as the pipeline builds it."""
    import ray

    from curation.io.shards import find_shards, inspect_shard, read_tasks
    from curation.stages.read import read_stage

    tasks = [t for path in find_shards(shards) for t in read_tasks(inspect_shard(path, cfg.input),
                                                                      cfg.resources.read_rows_per_task)]
    ds = ray.data.from_items(tasks, override_num_blocks=len(tasks)).map_batches(
        read_stage, batch_size=1, batch_format="pyarrow", fn_kwargs={"cfg": cfg.model_dump(mode="json")},
        num_cpus=cfg.resources.read_num_cpus)
    rows, seconds = timed(lambda: sum(b.num_rows for b in ds.iter_batches(batch_format="pyarrow",
                                                                           batch_size=None)))
    return {"rows": rows, "docs_per_s": round(rows / seconds, 1)}


def bare_embed(texts: list[str], cfg: Config) -> dict:
    from curation.models.encoder import EmbeddingClassifier

    res = cfg.resources.embed
    set_threads(res.threads or max(1, round(res.num_cpus)))
    classifier = EmbeddingClassifier(cfg.scoring.embed, res.batch_size)
    classifier.score(texts[: res.batch_size])  # warm up
    batches = [texts[i:i + res.batch_size] for i in range(0, len(texts), res.batch_size)]
    results, seconds = timed(lambda: [classifier.score(b) for b in batches])
    tokens = sum(sum(r[2]) for r in results)
    return {"rows": len(texts), "docs_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1)}


def bare_llm(texts: list[str], cfg: Config) -> dict:
    from curation.models.rubric import RubricScorer

    res = cfg.resources.llm
    set_threads(res.threads or max(1, round(res.num_cpus)))
    scorer = RubricScorer(cfg.scoring.llm, seed=cfg.seed)
    try:
        scorer.score(texts[:2])  # warm up
        batches = [texts[i:i + res.batch_size] for i in range(0, len(texts), res.batch_size)]
        _, seconds = timed(lambda: [scorer.score(b) for b in batches])
    finally:
        scorer.close()
    return {"rows": len(texts), "docs_per_s": round(len(texts) / seconds, 3)}


def bare_generators(texts: list[str], cfg: Config) -> dict:
    """One try of each generator on the same texts (Moral Education on the RefuseWeb dialogues)."""
    from curation.generation.generator import Generator

    res = cfg.resources.generate
    set_threads(res.threads or max(1, round(res.num_cpus)))
    generator = Generator(cfg, seed=cfg.seed)
    ids = [f"b{i}" for i in range(len(texts))]
    figures = {}
    try:
        generator.rephrase(ids[:1], texts[:1])  # warm up
        for stage, call, sources in (("safeweb", generator.rephrase, texts), ("refuseweb", generator.refuse, texts)):
            replies, seconds = timed(call, ids, sources)
            figures[stage] = _generated(replies, seconds)
            if stage == "refuseweb":
                dialogues = [r.text or "User: ...\nAssistant: ..." for r in replies]
        replies, seconds = timed(generator.moral, ids, dialogues)
        figures["moral_education"] = _generated(replies, seconds)
    finally:
        generator.close()
    return figures


def _generated(replies, seconds: float) -> dict:
    tokens = sum(r.tokens or 0 for r in replies)
    return {"rows": len(replies), "docs_per_s": round(len(replies) / seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1)}


def bare_ngrams(cards_dir: Path, cfg: Config) -> dict:
    """The card's n-gram section built directly on a committed shard's texts."""
    from curation.report.ngrams import ngram_card, shard_slices

    path = sorted((cards_dir / "scored").glob("*.parquet"))[0]
    scored = pq.read_table(path)
    generated = {name: pq.read_table(cards_dir / name / path.name) for name in ("safeweb", "refuseweb",
                                                                                 "moral_education")}
    card, seconds = timed(ngram_card, shard_slices(scored, generated), cfg.report.ngram_lists)
    tokens = sum(s["tokens"] for s in card["slices"].values())
    return {"rows": scored.num_rows, "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "seconds": round(seconds, 3), "shard": path.stem}


def ratio(pipeline: float | None, bare: float | None) -> float | None:
    return round(pipeline / bare, 3) if pipeline and bare else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=320, help="documents for validation and embedding")
    parser.add_argument("--llm-docs", type=int, default=24, help="documents for the LLM rubric scorer")
    parser.add_argument("--gen-docs", type=int, default=4, help="documents per generator")
    parser.add_argument("--ngram-docs", type=int, default=None,
                        help="documents for the n-gram indexing (CPU in both modes); default: a quarter of --docs")
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--gpu", action="store_true", help="stages on the GPU as cluster/gpu.yaml sets them up "
                                                           "(dtype, memory share, batch sizes, GPU reservations)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

    import ray

    from curation.run.ray_setup import start_ray

    base = bench_config(args.gpu)
    started = time.perf_counter()
    start_ray(base)
    ray_start = time.perf_counter() - started
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    texts = corpus(args.docs)
    stages: dict[str, dict] = {}
    scaling: dict = {"shards": [], "actors": []}
    with tempfile.TemporaryDirectory(prefix="safecurate-bench-") as tmp_dir:
        tmp = Path(tmp_dir)

        print("validation ...", flush=True)
        big = write_shards(tmp / "in-big", corpus(20 * args.docs), 2)
        stages["validation"] = {"bare": bare_validation(big, base), "pipeline": pipeline_validation(big, base)}

        print("embedding classifier, over 1, 2, 4, 8 shards ...", flush=True)
        stages["embed"] = {"bare": bare_embed(texts, base)}
        per_shard = max(8, args.docs // 8)
        for count in (1, 2, 4, 8):
            folder = write_shards(tmp / f"in-{count}", texts[: per_shard * count], count)
            run = pipeline_run(folder, tmp / f"out-{count}", base)
            scaling["shards"].append({"shards": count, **{k: v for k, v in run.items() if k != "cards"}})
        stages["embed"]["pipeline"] = fit(scaling["shards"])
        counted = {r: sum(c["routes"][r] for c in run["cards"]) for r in ("keep", "rephrase", "refuse")}
        routes = {r: round(n / max(1, sum(counted.values())), 3) for r, n in counted.items()}
        resume_started = time.perf_counter()
        pipeline_run(folder, tmp / "out-8", base)  # every shard committed: planning and manifest checks only
        scaling["resume_seconds"] = round(time.perf_counter() - resume_started, 3)
        for actors in (1, 2):
            cfg = bench_config(args.gpu, f"resources.embed.actors={actors}")
            run = pipeline_run(folder, tmp / f"out-actors-{actors}", cfg)
            scaling["actors"].append({"actors": actors, **{k: v for k, v in run.items() if k != "cards"}})

        print("report-card n-gram indexing ...", flush=True)
        ngram_cfg = bench_config(args.gpu, "report.ngrams=true")
        ngram_texts = texts[:args.ngram_docs or per_shard * 2]
        run = pipeline_run(write_shards(tmp / "in-ngrams", ngram_texts, 1), tmp / "out-ngrams", ngram_cfg)
        card = run["cards"][0]
        indexed = sum(s["tokens"] for s in card["ngrams"]["slices"].values())
        stages["ngrams"] = {"bare": bare_ngrams(tmp / "out-ngrams", ngram_cfg),
                            "pipeline": {"tokens": indexed, "seconds": card["ngrams"]["seconds"],
                                         "tokens_per_s": round(indexed / card["ngrams"]["seconds"], 1)}}

        def save() -> None:  # what is measured so far: a run stopped midway still leaves its figures
            write_json(args.json, report(args.gpu, base, stages, scaling, routes, ray_start))

        save()

        if not args.skip_llm:
            print("LLM rubric scorer ...", flush=True)
            llm_cfg = bench_config(args.gpu, "scoring.llm.enabled=true")
            llm_texts = texts[: args.llm_docs]
            engine_room(args.gpu, llm_cfg)
            stages["llm"] = {"bare": bare_llm(llm_texts, llm_cfg)}
            half = len(llm_texts) // 2
            runs = []
            for n in (half, len(llm_texts)):
                engine_room(args.gpu, llm_cfg)
                runs.append(pipeline_run(write_shards(tmp / f"in-llm-{n}", llm_texts[:n], 1), tmp / f"out-llm-{n}",
                                         llm_cfg))
            stages["llm"]["pipeline"] = fit(runs)
            save()

        if not args.skip_generation:
            print("generators ...", flush=True)
            scored = pq.read_table(tmp / "out-8" / "scored").to_pylist()
            unsafe = [r["text"] for r in sorted(scored, key=lambda r: -r["safety_score"])][: args.gen_docs]
            engine_room(args.gpu, base)
            bare = bare_generators(unsafe, bench_config(args.gpu, *GENERATION_RUN))
            gen_shards = write_shards(tmp / "in-gen", unsafe, 1)
            engine_room(args.gpu, base)
            refused = pipeline_run(gen_shards, tmp / "out-refuse",
                                   bench_config(args.gpu, *GENERATION_RUN, "routing.rephrase_max=0"))
            engine_room(args.gpu, base)
            rephrased = pipeline_run(gen_shards, tmp / "out-rephrase",
                                     bench_config(args.gpu, *GENERATION_RUN, "routing.rephrase_max=5"))
            for stage, run in (("safeweb", rephrased), ("refuseweb", refused), ("moral_education", refused)):
                figures = run["cards"][0]["generation"][stage]
                stages[stage] = {"bare": bare[stage], "pipeline": {
                    "rows": figures["routed"], "tokens": figures["tokens"], "seconds": figures["seconds"],
                    "docs_per_s": round(figures["routed"] / figures["seconds"], 3) if figures["seconds"] else None,
                    "tokens_per_s": figures["tokens_per_second"], "measured": "in the actor (card seconds)"}}
    ray.shutdown()

    results = report(args.gpu, base, stages, scaling, routes, ray_start, complete=True)
    stages = results["stages"]
    print(table(["stage", "bare docs/s", "pipeline docs/s", "ratio", "bare tokens/s", "pipeline tokens/s", "ratio"],
                [[name, f["bare"].get("docs_per_s", "-"), f["pipeline"].get("docs_per_s", "-"),
                  f.get("ratio_docs_per_s") or "-", f["bare"].get("tokens_per_s", "-"),
                  f["pipeline"].get("tokens_per_s", "-"), f.get("ratio_tokens_per_s") or "-"]
                 for name, f in stages.items()]))
    embed = stages["embed"]["pipeline"]
    print(table(["shards", "rows", "run s", "rows/s over the run"],
                [[s["shards"], s["rows"], s["seconds"], round(s["rows"] / s["seconds"], 2)]
                 for s in scaling["shards"]]))
    print(f"fit: fixed {embed['fixed_seconds']} s per run + {embed['docs_per_s']} docs/s")
    print(table(["embed actors", "rows", "run s"], [[s["actors"], s["rows"], s["seconds"]] for s in scaling["actors"]]))
    print(f"Ray start {ray_start:.1f} s; re-run on a committed output of 8 shards: {scaling['resume_seconds']} s")
    write_json(args.json, results)


def report(gpu: bool, base: Config, stages: dict, scaling: dict, routes: dict, ray_start: float,
           complete: bool = False) -> dict:
    """The JSON of the stages measured so far: per stage bare and pipeline figures, their ratios, the headline rate,
    the device it ran on (`cuda` only for a stage that reserves a GPU under --gpu) and its reservation."""
    largest = scaling["shards"][-1]
    figures = {}
    for name, f in stages.items():
        ratios = {f"ratio_{key}": ratio(f["pipeline"].get(key), f["bare"].get(key))
                  for key in ("docs_per_s", "tokens_per_s")}
        figures[name] = {**f, **ratios, "docs_per_s": f["pipeline"].get("docs_per_s") or f["bare"].get("docs_per_s"),
                         "tokens_per_s": f["pipeline"].get("tokens_per_s") or f["bare"].get("tokens_per_s"),
                         "device": "cuda" if stage_gpus(base, name) else "cpu", "cpus": stage_cpus(base, name),
                         "gpus": stage_gpus(base, name)}
    return {
        "benchmark": "throughput",
        "complete": complete,
        "config": BASE + (GPU if gpu else []),
        "profile": str(PROFILE.relative_to(ROOT)) if gpu else None,
        "corpus": {"documents": largest["rows"], "tokens": largest["tokens"],
                   "tokens_per_document": round(largest["tokens"] / largest["rows"], 1)},
        "routes": routes,
        "ray_start_seconds": round(ray_start, 2),
        "stages": figures,
        "scaling": scaling,
    }


def stage_gpus(cfg: Config, stage: str) -> float:
    res = cfg.resources
    return {"embed": res.embed.num_gpus, "llm": res.llm.num_gpus, "validation": 0, "ngrams": 0}.get(
        stage, res.generate.num_gpus)


def stage_cpus(cfg: Config, stage: str) -> float:
    res = cfg.resources
    return {"embed": res.embed.num_cpus, "llm": res.llm.num_cpus, "validation": res.read_num_cpus,
            "ngrams": res.read_num_cpus}.get(stage, res.generate.num_cpus)


if __name__ == "__main__":
    main()
