"""Safety pretraining with LitGPT on a curation output folder: tokenizer, mixture report, pretraining, export.

    run(cfg, data_dir, out_dir)
      out_dir/tokenizer/      SmolLM2 tokenizer + special tokens (tag, reflection markers)
      out_dir/mixture.json    documents, tokens and tags taken from each source
      out_dir/litgpt/         LitGPT run: logs/csv metrics, final/lit_model.pth
      out_dir/hf/             the exported Hugging Face model (config, safetensors, tokenizer)
      out_dir/summary.json    losses, tokens, seconds, parameters

Needs the training environment (litgpt; `make train` makes `.venv-train`). On CPU set
TORCH_COMPILE_DISABLE=1 (the run sets it when no GPU is present): compiling costs minutes on a tiny model.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import yaml

from training.config import TrainConfig
from training.mixture import mixture_report, write_report
from training.tokenizer import build_tokenizer, load, vocab_size


def model_config(cfg: TrainConfig, vocab: int):
    """The `litgpt.Config` of the run: the named architecture, the configured fields, the tokenizer's vocabulary."""
    from litgpt import Config

    fields = {**cfg.model.fields, "vocab_size": vocab, "padded_vocab_size": None}
    if cfg.model.name:
        return Config.from_name(cfg.model.name, **fields)
    return Config(**{"name": "safelm", **fields})


def run(cfg: TrainConfig, data_dir: str | Path, out_dir: str | Path, say=print) -> dict:
    """Train on the mixture of `cfg` from `data_dir` into `out_dir`; returns the summary (also written)."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")
    from litgpt import pretrain
    from litgpt.args import EvalArgs
    from litgpt.args import TrainArgs as LitTrainArgs

    from training.data import CuratedMixture
    from training.export import export_hf

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = build_tokenizer(out_dir / "tokenizer", cfg.tokenizer)
    tokenizer = load(tokenizer_dir)
    report = mixture_report(data_dir, cfg, lambda text: tokenizer.encode(text, add_special_tokens=False).ids)
    write_report(report, out_dir / "mixture.json")
    say(mixture_table(report))
    args = cfg.train
    ranks = (args.devices if isinstance(args.devices, int) else 1) * args.num_nodes
    needed = args.micro_batch_size * (args.max_seq_length + 1) * ranks
    if report["validation_tokens"] < needed:
        raise ValueError(f"{data_dir}: the validation split has {report['validation_tokens']} tokens, fewer than one "
                         f"batch of {args.micro_batch_size} x {args.max_seq_length + 1} tokens per rank ({needed}): "
                         "raise data.val_fraction or add data")
    config = model_config(cfg, vocab_size(tokenizer_dir))
    config.block_size = max(config.block_size, args.max_seq_length)
    run_dir = out_dir / "litgpt"
    # LitGPT saves a checkpoint's hyperparameters by re-parsing sys.argv as its own CLI, which fails when
    # it is called as a library; the checkpoint records this run's config instead.
    pretrain.save_hyperparameters = lambda function, checkpoint_dir: (
        Path(checkpoint_dir, "hyperparameters.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"))))
    pretrain.setup(
        model_name=config.name,
        model_config=config,
        out_dir=run_dir,
        precision=args.precision,
        data=CuratedMixture(data_dir, cfg.model_dump(mode="json"), tokenizer_dir),
        train=LitTrainArgs(
            save_interval=args.save_interval,
            log_interval=args.log_interval,
            global_batch_size=args.global_batch_size,
            micro_batch_size=args.micro_batch_size,
            max_tokens=args.max_tokens,
            max_seq_length=args.max_seq_length,
            lr_warmup_steps=args.warmup_steps,
            tie_embeddings=args.tie_embeddings,
            max_norm=args.max_norm,
            min_lr=args.min_lr,
        ),
        eval=EvalArgs(interval=args.eval_interval, max_iters=args.eval_iters, initial_validation=True),
        optimizer={"class_path": "torch.optim.AdamW",
                   "init_args": {"lr": args.learning_rate, "weight_decay": args.weight_decay, "betas": [0.9, 0.95]}},
        devices=args.devices,
        num_nodes=args.num_nodes,
        tokenizer_dir=tokenizer_dir,
        logger_name="csv",
        seed=cfg.seed,
    )
    hf_dir = export_hf(run_dir / "final", out_dir / "hf", tokenizer_dir, tie_embeddings=args.tie_embeddings)
    summary = {**losses(run_dir), "parameters": parameter_count(hf_dir), "hf_model": str(hf_dir),
               "mixture_train_tokens": report["train_tokens"], "seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (first_step, first_val), (last_step, last_val) = summary["val_losses"][0], summary["val_losses"][-1]
    say(f"training loss {summary['first_loss']:.3f} -> {summary['last_loss']:.3f} over {summary['steps']} steps; "
        f"validation {first_val:.3f} (step {first_step}) -> {last_val:.3f} (step {last_step}); "
        f"{summary['parameters']:,} parameters; model in {hf_dir}; {summary['seconds']} s")
    return summary


def losses(run_dir: Path) -> dict:
    """Training loss at the first and last logged step, and every validation loss with its step, from
    LitGPT's CSV log (the validation before training is printed by LitGPT but not logged)."""
    (metrics,) = sorted(run_dir.glob("logs/csv/**/metrics.csv"))[-1:]
    rows = list(csv.DictReader(metrics.open()))
    train = [float(r["loss"]) for r in rows if r.get("loss")]
    val = [[min(int(r["step"]) + 1, len(train)), float(r["val_loss"])] for r in rows if r.get("val_loss")]
    return {"first_loss": train[0], "last_loss": train[-1], "steps": len(train), "val_losses": val}


def parameter_count(hf_dir: Path) -> int:
    """Parameters of the exported model, from its safetensors (a tied output layer is stored, and counted, once)."""
    import math

    from safetensors import safe_open

    total = 0
    for path in sorted(Path(hf_dir).glob("*.safetensors")):
        with safe_open(path, "pt") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    return total


def mixture_table(report: dict) -> str:
    """The mixture report as a few aligned lines."""
    lines = [f"{'source':<16} {'weight':>6} {'documents':>9} {'tokens':>10} {'share':>6} {'tags':>6}"]
    for source, row in report["sources"].items():
        lines.append(f"{source:<16} {row['weight']:>6g} {row['train_documents']:>9,} {row['train_tokens']:>10,} "
                     f"{row['share']:>6.1%} {row['tags']:>6,}")
    lines.append(f"{'total':<16} {'':>6} {'':>9} {report['train_tokens']:>10,}   (+{report['validation_tokens']:,} "
                 "validation tokens)")
    return "\n".join(lines)
