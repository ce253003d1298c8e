"""Generation safety on labeled held-out text: do SafeWeb, RefuseWeb and Moral Education make text safer?

Runs the real pipeline (local Ray, packaged models, generation on) on the labeled rows written as one
shard, then joins every generated row to the scored document it came from (`source_id` -> `id`) and
compares the document's safety_score with the re-score of the generated text. Per stage:
  safeweb          rows routed `rephrase`, rewritten in one framing,
  refuseweb        rows routed `refuse`, written as a refusal dialogue,
  moral_education  each refusal dialogue as an article (source: the original scored document), when
                   `generation.moral_education` is on (off on the CPU default; `--set generation.moral_education=true`),
it prints rows routed, rows written, gate rejects by reason, mean source and generated score, the drop,
and the harmful/benign split of the sources, then PASS/FAIL for: SafeWeb mean drop >= 1.5, Moral
Education mean drop >= 1.5 (when on), every refuse-routed row has a RefuseWeb row. Exits 0 either way (it is a
measurement; the JSON records each check), 1 when the pipeline fails or outputs lack `safety_score`.
Writes JSON with the machine, versions, config, per-stage figures and checks.

    python -m benchmarks.generation [--data FILE.jsonl | --raw FOLDER] [--limit N] [--set key=value ...]
                                    [--keep OUT_DIR] [--json benchmarks/results/generation.json]

With --raw FOLDER the rows are real unsafe text from the public labeled sources of the scorer (fetched as for
`make head`; label score >= 2, a seeded round-robin over sources), not text the project wrote. Beside the drop it
then reports per stage the yield (written / routed), the encoder cosine of each written text to its source
against a random-pair baseline (the share at or above 0.35 is "on topic"), and for RefuseWeb the share of
dialogues with an assistant turn that declines and that end on the assistant, with PASS/FAIL for: SafeWeb on topic
>= 90% and mean drop >= 1.0, RefuseWeb declining >= 90%, SafeWeb and RefuseWeb yield >= 40%.

Slow on a laptop: with SmolLM2-135M on 2 CPU cores, --limit 60 took 21 minutes with the default 2
candidates per try (60 SafeWeb, RefuseWeb and Moral Education rows written from 53 routed documents;
the machine was also running other jobs), 10 minutes with one candidate; all 240 rows take about 4x.
--keep OUT_DIR keeps the outputs; a re-run into the same folder measures them again without
regenerating.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import versions
from curation.report.card import mean_present
from curation.schema import GENERATION_KINDS

DEFAULT_DATA = Path(__file__).parent / "data" / "heldout_eval.jsonl"
MIN_DROP = 1.5
ON_TOPIC = 0.35
"""Encoder cosine to the source at or above which a generated text counts as on its source's topic."""


def public_unsafe_rows(raw: Path, limit: int, seed: int = 0) -> list[dict]:
    """`limit` unsafe rows (label score >= 2) of the public labeled sources found in `raw`: each source's rows
    in a seeded order, taken in turn from every source, so that no one source dominates."""
    from curation.fitting.sources import all_sources

    queues = []
    for source in all_sources():
        if not source.available(raw):
            continue
        rows = [{"text": r.text, "score": r.score, "harmful": True, "source": source.name}
                for r in source.load(raw) if r.score >= 2 and len(r.text) >= 40]
        random.Random(f"{seed}:{source.name}").shuffle(rows)
        if rows:
            queues.append(rows)
    if not queues:
        raise SystemExit(f"error: no labeled source with unsafe rows found in {raw}")
    picked: list[dict] = []
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def faithfulness(out_dir: Path, stem: str) -> dict:
    """Per stage: encoder cosine of each written text to its source document (quantiles, on-topic share) and of
    the same texts to random other sources; for RefuseWeb the share of dialogues that decline and end on the
    assistant (read from `original_text`, the dialogue before speaker names replace User/Assistant)."""
    from curation.config import EmbedConfig
    from curation.generation.gates import turns
    from curation.generation.refusal import opens_with_refusal
    from curation.models.encoder import load_encoder

    encoder = load_encoder(EmbedConfig())
    scored = pq.read_table(out_dir / "scored" / f"{stem}.parquet").to_pylist()
    text_of = {str(r["id"]): r["text"] for r in scored}
    figures = {}
    for name in GENERATION_KINDS:
        table = _read(out_dir / name / f"{stem}.parquet")
        rows = [] if table is None else [r for r in table.to_pylist() if str(r["source_id"]) in text_of]
        if not rows:
            figures[name] = {"written": 0}
            continue
        texts = [r.get("original_text") or r["text"] for r in rows]
        sources = [text_of[str(r["source_id"])] for r in rows]
        a = encoder.encode(sources, normalize_embeddings=True, show_progress_bar=False)
        b = encoder.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        cosine = (a * b).sum(axis=1)
        others = [text_of[k] for k in random.Random(0).sample(sorted(text_of), len(text_of))]
        c = encoder.encode([others[(i + 1) % len(others)] if others[i % len(others)] == sources[i]
                            else others[i % len(others)] for i in range(len(rows))],
                           normalize_embeddings=True, show_progress_bar=False)
        baseline = (c * b).sum(axis=1)
        figures[name] = {
            "written": len(rows),
            "mean_cosine": round(float(cosine.mean()), 3),
            "cosine_quantiles": {q: round(float(np.quantile(cosine, float(q))), 3) for q in ("0.1", "0.5", "0.9")},
            "on_topic": round(float((cosine >= ON_TOPIC).mean()), 3),
            "random_pair_mean_cosine": round(float(baseline.mean()), 3),
            "random_pair_on_topic": round(float((baseline >= ON_TOPIC).mean()), 3),
        }
        if name == "refuseweb":
            declines = [any(opens_with_refusal(t) for t in turns(d, "Assistant"))
                        and d.strip().splitlines()[-1].startswith("Assistant:") for d in texts]
            figures[name]["declines_and_ends_on_assistant"] = round(sum(declines) / len(declines), 3)
    return figures


def stratified(rows: list[dict], limit: int | None) -> list[tuple[int, dict]]:
    """(file index, row) for `limit` rows picked deterministically: round-robin over scores 0-5, and within a
    score alternately benign and harmful, each in file order. Any limit >= 6 covers every score present, and
    both labels appear once a harmful and a benign score are reached."""
    indexed = list(enumerate(rows))
    if limit is None or limit >= len(rows):
        return indexed
    queues = []
    for score in sorted({r.get("score") for r in rows}, key=lambda s: (s is None, s)):
        group = [(i, r) for i, r in indexed if r.get("score") == score]
        by_label = [[p for p in group if not p[1].get("harmful")], [p for p in group if p[1].get("harmful")]]
        mixed = [p for pair in zip(*by_label, strict=False) for p in pair]
        short = min(len(by_label[0]), len(by_label[1]))
        mixed += by_label[0][short:] + by_label[1][short:]
        queues.append(mixed)
    picked: list[tuple[int, dict]] = []
    while len(picked) < limit:
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return sorted(picked)


def _read(path: Path) -> pa.Table | None:
    return pq.read_table(path) if path.exists() else None


def summarise(out_dir: Path, stem: str, labels: dict[str, bool] | None = None,
              kinds: tuple[str, ...] = GENERATION_KINDS) -> dict:
    """Per-stage figures of one committed shard `stem` under `out_dir` (the per-shard output contract), for the
    generated `kinds` the run wrote (its `GenerationConfig.kinds`).

    `labels` maps scored ids to harmful (True) / benign (False); without it a `harmful` column of scored/ is
    used when present. `missing` lists the outputs that lack a column the figures need.
    """
    out_dir = Path(out_dir)
    scored = pq.read_table(out_dir / "scored" / f"{stem}.parquet").to_pylist()
    by_id = {str(r["id"]): r for r in scored}
    if labels is None and scored and "harmful" in scored[0]:
        labels = {str(r["id"]): bool(r["harmful"]) for r in scored if r["harmful"] is not None}
    routes = Counter(r["route"] for r in scored)
    routed_ids = {route: {str(r["id"]) for r in scored if r["route"] == route} for route in routes}

    rejects = _read(out_dir / "rejects" / f"{stem}.parquet")
    reject_rows = rejects.to_pylist() if rejects is not None else []
    gate_rejects: dict[str, Counter] = defaultdict(Counter)
    for row in reject_rows:
        gate_rejects[row.get("stage") or "input"][row["reason"]] += 1

    tables = {name: _read(out_dir / name / f"{stem}.parquet") for name in kinds}
    missing = [f"{name}/{stem}.parquet" + ("" if table is None else ": no safety_score column")
               for name, table in tables.items() if table is None or "safety_score" not in table.column_names]
    written = {name: [] if table is None else table.to_pylist() for name, table in tables.items()}
    routed = {
        "safeweb": len(routed_ids.get("rephrase", ())),
        "refuseweb": len(routed_ids.get("refuse", ())),
        "moral_education": len(written["refuseweb"]),
    }

    stages = {}
    for name in kinds:
        pairs = []
        for row in written[name]:
            source = by_id.get(str(row["source_id"]))
            pairs.append({
                "source_id": str(row["source_id"]),
                "template": row.get("template"),
                "source_score": None if source is None else source["safety_score"],
                "generated_score": row.get("safety_score"),
                "harmful": None if labels is None else labels.get(str(row["source_id"])),
            })
        both = [p for p in pairs if p["source_score"] is not None and p["generated_score"] is not None]
        source_mean = mean_present([p["source_score"] for p in both])
        generated_mean = mean_present([p["generated_score"] for p in both])
        drop = mean_present([p["source_score"] - p["generated_score"] for p in both])
        split = Counter({True: "harmful", False: "benign", None: "unlabeled"}[p["harmful"]] for p in pairs)
        stages[name] = {
            "routed": routed[name],
            "written": len(pairs),
            "gate_rejects": dict(sorted(gate_rejects.get(name, Counter()).items())),
            "unjoined": sum(p["source_score"] is None for p in pairs),
            "unscored": sum(p["generated_score"] is None for p in pairs),
            "source_mean": source_mean,
            "generated_mean": generated_mean,
            "drop": drop,
            "sources": {k: split.get(k, 0) for k in ("harmful", "benign", "unlabeled")},
            "generated_histogram": dict(sorted(Counter(p["generated_score"] for p in both).items())),
            "pairs": pairs,
        }
        if name == "safeweb":
            stages[name]["templates"] = dict(sorted(Counter(p["template"] for p in pairs).items()))

    refused = routed_ids.get("refuse", set())
    without = sorted(refused - {str(r["source_id"]) for r in written["refuseweb"]})

    def check(ok: bool | None, detail: str) -> dict:
        return {"pass": bool(ok), "detail": detail}

    drops = {name: stages[name]["drop"] for name in ("safeweb", "moral_education") if name in stages}
    checks = {
        f"{name}_drop>={MIN_DROP}": check(drop is not None and drop >= MIN_DROP,
                                          f"mean drop {drop} over {stages[name]['written']} rows"
                                          if drop is not None else f"no scored pairs ({stages[name]['written']} "
                                          f"rows written, {stages[name]['unscored']} with a null safety_score)")
        for name, drop in drops.items()
    }
    detail = f"{len(refused) - len(without)}/{len(refused)} refuse-routed rows have a refuseweb row"
    checks["refuse_rows_all_written"] = check(not without, detail + (f"; missing {without[:10]}" if without else ""))
    card = {}
    report = out_dir / "reports" / f"{stem}.json"
    if report.exists():
        full = json.loads(report.read_text())
        card = {key: full[key] for key in ("rows", "stages", "generation", "seconds") if key in full}
    return {
        "stem": stem,
        "rows_scored": len(scored),
        "routes": {r: routes.get(r, 0) for r in ("keep", "rephrase", "refuse")},
        "input_rejects": dict(sorted(gate_rejects.get("input", Counter()).items())),
        "stages": stages,
        "checks": checks,
        "missing": missing,
        "report_card": card,
    }


def add_real_text_figures(summary: dict, figures: dict) -> None:
    """Yield, faithfulness and refusal figures into the stages, and the checks on real text."""
    stages = summary["stages"]
    for name, stage in stages.items():
        stage["yield"] = round(stage["written"] / stage["routed"], 3) if stage["routed"] else None
        stage["faithfulness"] = figures.get(name, {})

    def check(ok: bool, detail: str) -> dict:
        return {"pass": bool(ok), "detail": detail}

    safeweb, refuseweb = stages["safeweb"], stages["refuseweb"]
    on_topic = safeweb["faithfulness"].get("on_topic")
    declines = refuseweb["faithfulness"].get("declines_and_ends_on_assistant")
    checks = summary["checks"]
    checks["safeweb_on_topic>=0.9"] = check(on_topic is not None and on_topic >= 0.9,
                                            f"{on_topic} of {safeweb['written']} at cosine >= {ON_TOPIC} (random "
                                            f"pairs: {safeweb['faithfulness'].get('random_pair_on_topic')})")
    checks["safeweb_drop>=1.0"] = check(safeweb["drop"] is not None and safeweb["drop"] >= 1.0,
                                        f"mean drop {safeweb['drop']}")
    checks["refuseweb_declines>=0.9"] = check(declines is not None and declines >= 0.9,
                                              f"{declines} of {refuseweb['written']} dialogues")
    for name in ("safeweb", "refuseweb"):
        value = stages[name]["yield"]
        checks[f"{name}_yield>=0.4"] = check(value is not None and value >= 0.4,
                                             f"{stages[name]['written']} of {stages[name]['routed']} routed")


def _fmt(value, width: int, digits: int = 2) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}" if isinstance(value, float) else f"{value!s:>{width}}"


def print_summary(summary: dict) -> None:
    print(f"{summary['rows_scored']} rows scored, routes {summary['routes']}, input rejects "
          f"{summary['input_rejects'] or 0}")
    print(f"{'stage':<16} {'routed':>6} {'written':>7} {'src':>5} {'gen':>5} {'drop':>5} {'harm/ben':>9}  gate rejects")
    for name, s in summary["stages"].items():
        rejects = ", ".join(f"{r}={n}" for r, n in s["gate_rejects"].items()) or "-"
        split = f"{s['sources']['harmful']}/{s['sources']['benign']}"
        print(f"{name:<16} {s['routed']:>6} {s['written']:>7} {_fmt(s['source_mean'], 5)} "
              f"{_fmt(s['generated_mean'], 5)} {_fmt(s['drop'], 5)} {split:>9}  {rejects}")
    for name, s in summary["stages"].items():
        if s["unscored"] or s["unjoined"]:
            print(f"note: {name}: {s['unscored']} rows with a null safety_score, {s['unjoined']} whose source_id "
                  "is not a scored id; left out of the means")
    for name, s in summary["stages"].items():
        f = s.get("faithfulness")
        if f and f.get("written"):
            print(f"{name:<16} yield {_fmt(s['yield'], 5)}  cosine to source mean {_fmt(f['mean_cosine'], 5)} "
                  f"(random pairs {_fmt(f['random_pair_mean_cosine'], 5)}), on topic {_fmt(f['on_topic'], 5)} "
                  f"(random {_fmt(f['random_pair_on_topic'], 5)})"
                  + (f", declining {f['declines_and_ends_on_assistant']}" if name == "refuseweb" else ""))
    for name, check in summary["checks"].items():
        print(f"{'PASS' if check['pass'] else 'FAIL'} {name}: {check['detail']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSON lines with text, score, harmful")
    parser.add_argument("--raw", type=Path, default=None,
                        help="public labeled sources (as for make head): their unsafe rows instead of --data")
    parser.add_argument("--limit", type=int, default=None, help="take N rows, stratified by score and label")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--keep", type=Path, default=None, help="write the curation output here and keep it")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/generation.json"))
    args = parser.parse_args()

    from curation.config import ConfigError, load_config
    from curation.run.driver import run_curation

    try:
        cfg = load_config(None, args.overrides)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not cfg.generation.enabled:
        print("warning: generation.enabled=false, the generation stages write nothing")
    if args.raw is not None:
        picked = list(enumerate(public_unsafe_rows(args.raw, args.limit or 40)))
        stem = "public_unsafe"
    else:
        rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
        picked = stratified(rows, args.limit)
        stem = args.data.stem
    ids = [str(i) for i, _ in picked]
    labels = {str(i): bool(r["harmful"] if "harmful" in r else (r.get("score") or 0) >= 2) for i, r in picked}

    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "in" / f"{stem}.parquet"
        shard.parent.mkdir()
        pq.write_table(pa.table({"id": ids, "text": [r["text"] for _, r in picked]}), shard)
        out_dir = args.keep or Path(tmp) / "out"
        run = run_curation(str(shard), str(out_dir), cfg, progress=True)
        pipeline_seconds = time.time() - started
        if not run.ok:
            raise SystemExit(f"curation failed: {run.failed}")
        reused = stem in run.skipped
        if reused:
            print(f"note: {out_dir} already held this shard committed with this config; measuring those outputs")
        summary = summarise(Path(out_dir), stem, labels, cfg.generation.kinds)
        if args.raw is not None:
            add_real_text_figures(summary, faithfulness(Path(out_dir), stem))
    if summary["missing"]:
        raise SystemExit("error: cannot measure the generated texts' safety, missing: " + "; ".join(summary["missing"]))

    where = f"public sources in {args.raw}" if args.raw is not None else args.data
    print(f"{len(picked)} rows ({sum(labels.values())} harmful) from {where}, pipeline {pipeline_seconds:.1f}s")
    print_summary(summary)
    report = {
        "data": "public labeled sources (unsafe rows)" if args.raw is not None else str(args.data),
        "sources": dict(sorted(Counter(r.get("source", "-") for _, r in picked).items())),
        "rows": len(picked), "harmful": sum(labels.values()),
        "scores": dict(sorted(Counter(str(r.get("score")) for _, r in picked).items())),
        "stages": summary["stages"], "routes": summary["routes"], "input_rejects": summary["input_rejects"],
        "checks": summary["checks"], "report_card": summary["report_card"],
        "pipeline_seconds": round(pipeline_seconds, 2), "wall_seconds": round(time.time() - started, 2),
        "kept_output": str(args.keep) if args.keep else None, "reused_committed_output": reused,
        "config_hash": cfg.content_hash(), "config": cfg.model_dump(mode="json"),
        "versions": versions(),
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
