"""The `safecurate` command: one verb per entry point, each a thin call into the package."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from curation.config import Config, ConfigError, load_yaml_model

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Safety curation of web-text shards: score, route, commit, report; and training on them.")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override: dotted.key=value (repeatable).")]


def fail(message: str, code: int = 2) -> NoReturn:
    """The one way a command stops on a problem: one line on stderr and an exit code (2: bad input)."""
    from curation.run.console import terminal

    typer.echo(f"error: {message}", file=terminal(err=True))
    raise typer.Exit(code)


@contextmanager
def user_errors(*kinds: type[Exception], code: int = 2) -> Iterator[None]:
    """Turn the named exceptions (problems with the user's input) into `fail`; anything else is a bug and
    keeps its traceback."""
    try:
        yield
    except kinds as exc:
        fail(str(exc), code)


def _config(path: Path | None, overrides: list[str] | None, model: type = Config):
    """The config tree of type `model` from YAML and overrides; a bad one is a one-line error and exit 2."""
    with user_errors(ConfigError):
        return load_yaml_model(model, path, overrides)


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
    verbose: Annotated[bool, typer.Option(help="Show Ray, vLLM, transformers and torch output on the console "
                                               "instead of OUT/_logs/.")] = False,
) -> None:
    """Score every shard, route its rows, and commit per-shard outputs and report cards. Ctrl-C (or SIGTERM)
    stops within seconds and says how to resume; a second Ctrl-C exits at once."""
    from curation.run.console import quiet_console, terminal
    from curation.run.driver import run_curation
    from curation.run.interrupt import EXIT_CODE, Interrupted, run_interruptibly, stopped_summary

    cfg = _config(config, (set_ or []) + ([f"ray.address={address}"] if address else []))
    with quiet_console(out, verbose) as log_path:
        if log_path is not None:
            typer.echo(f"logs: {log_path}", file=terminal(err=True))
        try:
            with user_errors(FileNotFoundError, ValueError):
                summary = run_interruptibly(lambda: run_curation(shards, out, cfg, progress=progress), stop=_stop_ray)
        except Interrupted as stopped:
            command = ["safecurate", *sys.argv[1:]]
            typer.echo(stopped_summary(out, stopped.signal_name, command), file=terminal(err=True))
            raise typer.Exit(EXIT_CODE) from None
        committed = summary.committed.values()
        rows = sum(m["counts"]["scored"] for m in committed)
        rejected = sum(m["counts"]["rejected"] for m in committed)
        typer.echo(f"{len(summary.committed)} shard(s) committed ({rows} rows scored, {rejected} rejected), "
                   f"{len(summary.skipped)} skipped as already committed, {len(summary.failed)} failed, "
                   f"in {summary.seconds:.1f}s", file=terminal())
        typer.echo(f"outputs: {out}/scored  report cards: {out}/reports  manifests: {out}/_manifest", file=terminal())
        if summary.failed:
            typer.echo("failed shards:", file=terminal(err=True))
            for path, problem in summary.failed.items():
                typer.echo(f"  {path}: {problem}", file=terminal(err=True))
            if log_path is not None:
                typer.echo(f"logs: {log_path}", file=terminal(err=True))
            raise typer.Exit(1)


def _stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


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
    from curation.fitting.classifier import fit_classifier

    cfg = _config(config, set_)
    with user_errors(OSError, ValueError):
        metrics = fit_classifier(data, out, cfg.scoring.embed, unsafe_weight, regularization, test_size,
                                 threshold, cfg.seed, refit_all)
    typer.echo(f"head written to {out}")
    for key, value in metrics.items():
        typer.echo(f"  {key:>16}: {value}")


@app.command()
def sample(out: Annotated[Path, typer.Option(help="Folder for the sample shards.")] = Path("sample")) -> None:
    """Write the bundled sample corpus as Parquet shards."""
    from curation.tools.sample import write_sample

    for path in write_sample(out):
        typer.echo(str(path))


@app.command()
def report(
    out: Annotated[str, typer.Argument(help="A curation output folder (a path or a URI such as s3://bucket/out).")],
    shard: Annotated[str | None, typer.Option(help="Print this shard's card instead of merging.")] = None,
) -> None:
    """Merge every committed shard's card into OUT/report.{json,md,html} and print a summary."""
    from rich.console import Console

    from curation.io.storage import Store
    from curation.report.corpus import write_corpus_card
    from curation.report.summary import print_summary

    console = Console()
    store = Store(out)
    if shard is not None:
        card = store.read_bytes(f"reports/{shard}.md")
        if card is None:
            fail(f"no card for shard {shard!r} in {out}/reports")
        console.print(card.decode(), markup=False, highlight=False)
        return
    if not store.names("_manifest", ".json"):
        fail(f"{out} holds no committed shard (nothing in _manifest/)")
    card = write_corpus_card(store)
    print_summary(card, console)
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
        fail("training needs litgpt, installed apart from the LLM engine: `make train` builds .venv-train "
             "(or pip install -e '.[train]' in an environment without vllm)")
    from training.config import TrainConfig
    from training.train import run

    overrides = list(set_ or [])
    if mixture is not None:
        try:
            weights = yaml.safe_load(mixture.read_text())
        except (OSError, yaml.YAMLError) as exc:
            fail(f"cannot read mixture {mixture}: {exc}")
        overrides.insert(0, f"mixture={json.dumps(weights)}")
    cfg = _config(config, overrides, TrainConfig)
    with user_errors(FileNotFoundError, ValueError, code=1):
        run(cfg, data, out, say=typer.echo)


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

    from curation.models.engine import chat_model_dir
    from curation.models.judge import SafetyJudge
    from decoding.evaluate import DATA, EvalSettings, evaluate, load_prompts, markdown_table

    cfg = _config(config, set_)
    if cfg.scoring.llm.enabled and importlib.util.find_spec("vllm") is None:
        typer.echo("note: vllm is not installed here: the judge uses the embedding classifier alone", err=True)
        cfg.scoring.llm.enabled = False
    with user_errors(FileNotFoundError, ValueError):
        harmful = load_prompts(prompts or DATA / "harmful_prompts.jsonl")
        harmless = load_prompts(benign or DATA / "benign_prompts.jsonl")
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
            fail(f"{config} is outside the project folder {jobs.PROJECT}, which is all a job carries: copy it into "
                 "the project (e.g. cluster/) or pass settings with --set")
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


@app.command("check")
def check_cmd(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    node: Annotated[list[str], typer.Option(help="A node of the cluster as cpus=N,gpus=M (repeatable).")] = None,
) -> None:
    """Check that a profile's actor pools (at their minimum sizes) and read tasks can be placed on these nodes:
    exit 0, or exit 2 with one line naming the stage and the fix."""
    from curation.tools.check import Node, PlacementError, check_placement

    cfg = _config(config, set_)
    with user_errors(PlacementError):
        typer.echo(check_placement(cfg, [Node.parse(spec) for spec in node or []]))


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
    from curation.tools.cost import estimate, load_throughput, show

    cfg = _config(profile, set_)
    with user_errors(ValueError):
        result = estimate(load_throughput(throughput), cfg, tokens)
    show(result, say=typer.echo)
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            fail(f"cannot write {json_out}: {exc.strerror}")
        typer.echo(f"plan written to {json_out}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()
