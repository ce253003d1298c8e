"""The `safecurate` command: one verb per entry point, each a thin call into the package."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from curation.config import Config, ConfigError, load_yaml_model

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Safety curation of web-text shards: score, route, commit, report; and training on them.")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override: dotted.key=value (repeatable).")]


def _config(path: Path | None, overrides: list[str] | None, model: type = Config):
    """The config tree of type `model` from YAML and overrides; a bad one is a one-line error and exit 2."""
    try:
        return load_yaml_model(model, path, overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def curate(
    shards: Annotated[str, typer.Option(help="Input shards: a glob, a file, or a directory of .parquet files; "
                                             "local paths or URIs (s3://bucket/shards/*.parquet).")],
    out: Annotated[str, typer.Option(help="Output folder (scored/, rejects/, reports/, _manifest/): a local "
                                          "path or a URI (s3://bucket/out).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address; default: local Ray.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score every shard, route its rows, and commit per-shard outputs and report cards."""
    from curation.pipeline import run_curation

    cfg = _config(config, (set_ or []) + ([f"ray.address={address}"] if address else []))
    try:
        summary = run_curation(shards, out, cfg, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    committed = summary.committed.values()
    rows = sum(m["counts"]["scored"] for m in committed)
    rejected = sum(m["counts"]["rejected"] for m in committed)
    typer.echo(f"{len(summary.committed)} shard(s) committed ({rows} rows scored, {rejected} rejected), "
               f"{len(summary.skipped)} skipped as already committed, {len(summary.failed)} failed, "
               f"in {summary.seconds:.1f}s")
    typer.echo(f"outputs: {out}/scored  report cards: {out}/reports  manifests: {out}/_manifest")
    if summary.failed:
        typer.echo("failed shards:", err=True)
        for path, problem in summary.failed.items():
            typer.echo(f"  {path}: {problem}", err=True)
        raise typer.Exit(1)


@app.command("fit-classifier")
def fit_classifier_cmd(
    data: Annotated[list[Path], typer.Option(help="Labeled rows (Parquet or JSON lines) with text and score 0-5.")],
    out: Annotated[Path, typer.Option(help="Folder for head.safetensors and head.json.")],
    unsafe_weight: Annotated[float, typer.Option(help="Loss weight of rows scored above 0 (the paper's λ).")] = 2.0,
    regularization: Annotated[float, typer.Option(help="Inverse L2 strength C of the logistic regression.")] = 1.0,
    test_size: Annotated[float, typer.Option(help="Held-out share for the printed metrics.")] = 0.2,
    threshold: Annotated[int, typer.Option(help="Binary metrics flag score >= threshold.")] = 2,
    refit_all: Annotated[bool, typer.Option(help="Refit the saved head on every row after evaluating.")] = True,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train a classifier head on labeled text and print held-out precision/recall/F1 and AUROC."""
    from curation.fit import fit_classifier

    cfg = _config(config, set_)
    try:
        metrics = fit_classifier(data, out, cfg.scoring.embed, unsafe_weight, regularization, test_size,
                                 threshold, cfg.seed, refit_all)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"head written to {out}")
    for key, value in metrics.items():
        typer.echo(f"  {key:>16}: {value}")


@app.command()
def sample(out: Annotated[Path, typer.Option(help="Folder for the sample shards.")] = Path("sample")) -> None:
    """Write the bundled sample corpus as Parquet shards."""
    from curation.sample import write_sample

    for path in write_sample(out):
        typer.echo(str(path))


@app.command()
def report(
    out: Annotated[str, typer.Argument(help="A curation output folder (a path or a URI such as s3://bucket/out).")],
    shard: Annotated[str | None, typer.Option(help="Print this shard's card instead of merging.")] = None,
) -> None:
    """Merge every committed shard's card into OUT/report.{json,md,html} and print a summary."""
    from rich.console import Console
    from rich.table import Table

    from curation.corpus import write_corpus_card
    from curation.storage import Store

    console = Console()
    store = Store(out)
    if shard is not None:
        card = store.read_bytes(f"reports/{shard}.md")
        if card is None:
            typer.echo(f"error: no card for shard {shard!r} in {out}/reports", err=True)
            raise typer.Exit(2)
        console.print(card.decode(), markup=False, highlight=False)
        return
    if not store.names("_manifest", ".json"):
        typer.echo(f"error: {out} holds no committed shard (nothing in _manifest/)", err=True)
        raise typer.Exit(2)
    card = write_corpus_card(store)
    table = Table(title=f"{card['shards']} shards, {card['tokens']} tokens, "
                        f"{100 * card['unsafe_fraction']:.1f}% of scored rows score 4-5")
    for column in ("shard", "rows in", "scored", "rejected", "unsafe", "keep", "rephrase", "refuse"):
        table.add_column(column, justify="left" if column == "shard" else "right", no_wrap=column == "shard")
    for s in card["per_shard"]:
        table.add_row(s["shard"], *(str(s[k]) for k in ("rows_in", "scored", "rejected")),
                      f"{100 * s['unsafe_fraction']:.1f}%", *(str(s[k]) for k in ("keep", "rephrase", "refuse")))
    rows = card["rows"]
    table.add_row("total", *(str(rows.get(k, 0)) for k in ("in", "scored", "rejected")),
                  f"{100 * card['unsafe_fraction']:.1f}%", *(str(card["routes"][k]) for k in ("keep", "rephrase",
                                                                                              "refuse")), style="bold")
    console.print(table)
    if card["ngrams"]:
        rates = Table(title="harmful n-gram hits per million tokens")
        rates.add_column("category", no_wrap=True)
        slices = list(card["ngrams"]["slices"])
        for name in slices:
            rates.add_column(name, justify="right")
        for key, label in card["ngrams"]["categories"].items():
            rates.add_row(label, *(f"{card['ngrams']['slices'][n]['per_million'].get(key, 0):.0f}" for n in slices))
        console.print(rates)
    typer.echo(f"corpus card: {out}/report.html (and report.json, report.md)")


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="A curation output folder (committed shards are read).")],
    out: Annotated[Path, typer.Option(help="Run folder: tokenizer/, mixture.json, litgpt/, hf/, summary.json.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Training YAML (training/configs/*.yaml).")],
    mixture: Annotated[Path | None, typer.Option(help="YAML of source: weight replacing the config's mixture "
                                                      "(training/mixtures/*.yaml).")] = None,
    set_: SetOpt = None,
) -> None:
    """Pretrain with LitGPT on a mixture of curated sources and export a Hugging Face model (needs `.[train]`)."""
    import importlib.util

    import yaml

    if importlib.util.find_spec("litgpt") is None:
        typer.echo("error: training needs litgpt, installed apart from the LLM engine: `make train` builds "
                   ".venv-train (or pip install -e '.[train]' in an environment without vllm)", err=True)
        raise typer.Exit(2)
    from training.config import TrainConfig
    from training.train import run

    overrides = list(set_ or [])
    if mixture is not None:
        try:
            weights = yaml.safe_load(mixture.read_text())
        except (OSError, yaml.YAMLError) as exc:
            typer.echo(f"error: cannot read mixture {mixture}: {exc}", err=True)
            raise typer.Exit(2) from None
        overrides.insert(0, f"mixture={json.dumps(weights)}")
    cfg = _config(config, overrides, TrainConfig)
    try:
        run(cfg, data, out, say=typer.echo)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("eval")
def eval_cmd(
    model: Annotated[Path | None, typer.Option(help="Hugging Face model folder; default: packaged SmolLM2.")] = None,
    prompts: Annotated[Path | None, typer.Option(help="Harmful prompts (.jsonl / .csv with `prompt`, or .txt); "
                                                     "default: decoding/data/harmful_prompts.jsonl.")] = None,
    benign: Annotated[Path | None, typer.Option(help="Benign prompts, for over-refusal; default: "
                                                    "decoding/data/benign_prompts.jsonl.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for eval.json and eval.md.")] = Path("eval"),
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per completion.")] = 48,
    num_beams: Annotated[int, typer.Option(help="Beams (k) of beam and Safe Beam Search.")] = 4,
    top_n: Annotated[int, typer.Option(help="Candidates per beam (N) of Safe Beam Search.")] = 32,
    drop_fraction: Annotated[float, typer.Option(help="Share of candidates Safe Beam Search drops.")] = 0.5,
    unsafe_threshold: Annotated[int, typer.Option(help="Judge score counted as a successful attack.")] = 2,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Judge a model's completions by greedy, beam and Safe Beam decoding: attack success rate, over-refusal."""
    import importlib.util

    from curation.engine import chat_model_dir
    from curation.judge import SafetyJudge
    from decoding.evaluate import DATA, EvalSettings, evaluate, load_prompts, markdown_table

    cfg = _config(config, set_)
    if cfg.scoring.llm.enabled and importlib.util.find_spec("vllm") is None:
        typer.echo("note: vllm is not installed here: the judge uses the embedding classifier alone", err=True)
        cfg.scoring.llm.enabled = False
    try:
        harmful = load_prompts(prompts or DATA / "harmful_prompts.jsonl")
        harmless = load_prompts(benign or DATA / "benign_prompts.jsonl")
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    model_dir = model or chat_model_dir()
    settings = EvalSettings(max_new_tokens=max_new_tokens, num_beams=num_beams, top_n=top_n,
                            drop_fraction=drop_fraction, unsafe_threshold=unsafe_threshold)
    judge = SafetyJudge(cfg)
    try:
        result = evaluate(model_dir, harmful, harmless, judge.score, settings, say=typer.echo)
    finally:
        judge.close()
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(result)
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "eval.md").write_text(f"# Safety evaluation of {model_dir}\n\n{table}\n")
    typer.echo(table)
    typer.echo(f"completions and scores: {out}/eval.json")


AddressOpt = Annotated[str, typer.Option(envvar="RAY_JOBS_ADDRESS",
                                        help="Ray Jobs API address, http://HEAD:8265 (or $RAY_JOBS_ADDRESS).")]


@app.command()
def submit(
    shards: Annotated[str, typer.Option(help="Input shards as the cluster sees them (glob, folder, s3://...).")],
    out: Annotated[str, typer.Option(help="Output folder as the cluster sees it.")],
    address: AddressOpt,
    config: Annotated[str | None, typer.Option("--config", "-c", help="YAML config (a path inside the project, "
                                                                       "e.g. cluster/gpu.yaml).")] = None,
    set_: SetOpt = None,
    follow: Annotated[bool, typer.Option(help="Print the job's logs until it ends and exit with its status.")] = True,
) -> None:
    """Submit `curate` to a Ray cluster as a Ray job (the project travels as its working directory)."""
    from cluster import submit as jobs

    if config is not None:  # the project folder travels as the job's working directory: so must the config
        local = Path(config).resolve()
        if local.is_file() and not local.is_relative_to(jobs.PROJECT):
            typer.echo(f"error: {config} is outside the project folder {jobs.PROJECT}, which is all a job carries: "
                       "copy it into the project (e.g. cluster/) or pass settings with --set", err=True)
            raise typer.Exit(2)
        if local.is_file():
            config = str(local.relative_to(jobs.PROJECT))
    job_id = jobs.submit(address, jobs.curate_entrypoint(shards, out, config, set_))
    typer.echo(f"submitted job {job_id}")
    if follow:
        final = jobs.follow(address, job_id, say=typer.echo)
        typer.echo(f"job {job_id}: {final}")
        raise typer.Exit(jobs.FINAL[final])


@app.command("job-status")
def job_status(job_id: Annotated[str, typer.Argument(help="The id `submit` printed.")], address: AddressOpt) -> None:
    """Print a submitted job's status and message."""
    from cluster import submit as jobs

    info = jobs.status(address, job_id)
    typer.echo(f"{info['job_id']}: {info['status']}" + (f" ({info['message']})" if info["message"] else ""))


@app.command("job-logs")
def job_logs(job_id: Annotated[str, typer.Argument(help="The id `submit` printed.")], address: AddressOpt) -> None:
    """Print a submitted job's logs so far."""
    from cluster import submit as jobs

    typer.echo(jobs.logs(address, job_id), nl=False)


@app.command("config")
def show_config(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved config as YAML, with its hash."""
    import yaml

    cfg = _config(config, set_)
    typer.echo(f"# config hash {cfg.content_hash()}")
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).rstrip())


@app.command("plan")
def plan_cmd(
    tokens: Annotated[float, typer.Option(help="Tokens to curate, e.g. 600e9 (the paper's corpus).")],
    profile: Annotated[Path | None, typer.Option("--profile", "--config", "-c",
                                                 help="Config profile (e.g. cluster/gpu.yaml): which stages run and "
                                                      "each actor's CPUs/GPUs; default: the laptop defaults.")] = None,
    throughput: Annotated[Path, typer.Option(help="Throughput JSON of `python -m benchmarks.throughput`.")] = Path(
        "benchmarks/results/throughput.json"),
    set_: SetOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the plan as JSON to this file.")] = None,
) -> None:
    """Cost of curating TOKENS tokens: documents, worker-hours and GPU- or core-hours per stage, from measured
    throughput and a config profile."""
    from curation.plan import load_throughput, plan, show

    cfg = _config(profile, set_)
    try:
        result = plan(load_throughput(throughput), cfg, tokens)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    show(result, say=typer.echo)
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            typer.echo(f"error: cannot write {json_out}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"plan written to {json_out}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()
