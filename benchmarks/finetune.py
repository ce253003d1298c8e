"""Does fine-tuning the encoder transfer to unseen sources better than a head on the frozen encoder?

A group of public sources is held out; the rest of the training table (curation/fitting/sources, fetched into
--raw, plus the seed set) trains (a) the 6-way logistic head on frozen all-MiniLM-L6-v2 embeddings, as the
packaged head is made, and (b) the same head fine-tuned together with the encoder's top `--layers` transformer
layers for `--epochs` (weighted cross-entropy with the head's row weights, the head starting from (a)). Both
score the held-out sources by P(score >= 2) of whole texts (no windows): AUROC on sources with safe and unsafe
rows, the share at P >= 0.55 on one-class sources; each alone and blended, as the packaged classifier blends, with
a lexical head fitted on the same training rows (`--encoder-weight`, the packaged head's by default). The blend
decides: the lexical head already sees part of what fine-tuning teaches the encoder. A build-time study: nothing
here is packaged.

    python -m benchmarks.finetune --raw FOLDER [--layers 6] [--epochs 1] [--json benchmarks/results/finetune.json]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from benchmarks.common import table, write_json
from curation.fitting.heads import FitSettings, fit_heads, row_weights
from curation.fitting.table import build_table, table_columns
from curation.models.encoder import DEFAULT_HEAD, LinearHead
from curation.models.lexical import counts
from curation.models.score_levels import cumulative, softmax

HELD_OUT = ("convabuse", "surge_toxicity", "stormfront", "toxigen", "do_not_answer", "self_instruct", "harmbench")
"""User comments of four kinds, unsafe and borderline requests, harmless requests, harmful requests."""
TRAIN_TOKENS, SCORE_TOKENS, BATCH = 128, 256, 32


class Encoder:
    """all-MiniLM-L6-v2 as sentence-transformers pools it (mean over tokens, unit length), trainable in torch."""

    def __init__(self, threads: int):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from curation.models.packaged import packaged_encoder_dir

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        path = packaged_encoder_dir()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)

    def train_top(self, layers: int) -> list:
        """Freeze everything but the top `layers` transformer layers; their parameters."""
        for parameter in self.model.parameters():
            parameter.requires_grad = False
        trainable = [p for layer in self.model.encoder.layer[-layers:] for p in layer.parameters()] if layers else []
        for parameter in trainable:
            parameter.requires_grad = True
        return trainable

    def pool(self, texts: list[str], max_tokens: int):
        batch = self.tokenizer(texts, truncation=True, max_length=max_tokens, padding=True, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.torch.nn.functional.normalize(pooled, dim=-1)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings of `texts`, length-sorted batches."""
        self.model.eval()
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with self.torch.no_grad():
            for start in range(0, len(texts), 64):
                rows = order[start:start + 64]
                out[rows] = self.pool([texts[i] for i in rows], SCORE_TOKENS).numpy()
        return out


def fine_tune(encoder: Encoder, texts: list[str], scores: np.ndarray, weights: np.ndarray, head: tuple,
              layers: int, epochs: float, rate: float, log) -> tuple[np.ndarray, np.ndarray]:
    """Train the top `layers` and the head (starting from `head`); the head's (weight, bias) after training."""
    torch = encoder.torch
    linear = torch.nn.Linear(head[0].shape[1], head[0].shape[0])
    linear.weight.data = torch.tensor(head[0])
    linear.bias.data = torch.tensor(np.maximum(head[1], -30.0))  # absent classes: -1e4 would overflow Adam's steps
    groups = [{"params": encoder.train_top(layers), "lr": rate}, {"params": linear.parameters(), "lr": rate * 10}]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    base_rates = [g["lr"] for g in optimizer.param_groups]
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    total = max(1, int(epochs * len(batches)))
    rng, step, started = random.Random(0), 0, time.time()
    encoder.model.train()
    while step < total:
        rng.shuffle(batches)
        for rows in batches[:total - step]:
            logits = linear(encoder.pool([texts[i] for i in rows], TRAIN_TOKENS))
            loss = (torch.nn.functional.cross_entropy(logits, torch.tensor(scores[rows]), reduction="none")
                    * torch.tensor(weights[rows], dtype=torch.float32)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            for group, base in zip(optimizer.param_groups, base_rates, strict=True):
                group["lr"] = base * (1 - step / total)
            if step % 200 == 0:
                log(f"  step {step}/{total} loss {loss.item():.3f} ({time.time() - started:.0f} s)")
    return linear.weight.detach().numpy(), linear.bias.detach().numpy()


def held_out_figures(probs: np.ndarray, truth: np.ndarray, sources: np.ndarray) -> dict:
    """Per held-out source, from 6-way `probs`: AUROC of P(score >= 2), or the share flagged on one-class sources."""
    from sklearn.metrics import roc_auc_score

    prob = cumulative(probs)[:, 2]

    out = {}
    for source in np.unique(sources):
        rows = sources == source
        t = truth[rows]
        if 0 < t.sum() < rows.sum():
            out[str(source)] = {"rows": int(rows.sum()), "auroc": round(float(roc_auc_score(t, prob[rows])), 4)}
        else:
            out[str(source)] = {"rows": int(rows.sum()), "all_unsafe": bool(t.all()),
                                "flagged_share": round(float((prob[rows] >= 0.55).mean()), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources, <owner>+<repo>/<path>")
    parser.add_argument("--hold", default=",".join(HELD_OUT), help="comma-separated sources held out")
    parser.add_argument("--layers", type=int, default=6, help="top transformer layers trained (0: head only)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=3e-5, help="learning rate of the layers (head: 10x)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoder-weight", type=float, default=None,
                        help="weight of the encoder head in the blend with the lexical head (default: the packaged "
                             "head's)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/finetune.json"))
    args = parser.parse_args()
    started = time.time()
    settings = FitSettings()
    texts, scores, sources = table_columns(build_table(args.raw, seed=settings.seed)[0])
    held = np.isin(sources, args.hold.split(","))
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    print(f"{len(train)} training rows, {len(test)} held-out rows from {sorted(set(sources[test]))}", flush=True)
    blend = args.encoder_weight
    if blend is None:
        blend = float(LinearHead.load(DEFAULT_HEAD).info["encoder_weight"])
    encoder = Encoder(args.threads)
    embeddings = encoder.embed(texts)
    weights = row_weights(scores[train], sources[train], settings.unsafe_weight)
    counted = counts(texts, settings.buckets)
    head, lexical = fit_heads(embeddings[train], counted[train], scores[train], sources[train], settings)
    frozen = head.weight, head.bias
    lexical_probs = lexical.probabilities_of_counts(counted[test])
    frozen_probs = softmax(embeddings[test] @ frozen[0].T + frozen[1])
    print(f"frozen head fitted ({time.time() - started:.0f} s); fine-tuning the top {args.layers} layers ...",
          flush=True)
    tuned = fine_tune(encoder, [texts[i] for i in train], scores[train], weights, frozen, args.layers,
                      args.epochs, args.rate, lambda m: print(m, flush=True))
    tuned_embeddings = encoder.embed([texts[i] for i in test])
    tuned_probs = softmax(tuned_embeddings @ tuned[0].T + tuned[1])
    truth = scores[test] >= 2
    results = {"frozen": held_out_figures(frozen_probs, truth, sources[test]),
               "fine_tuned": held_out_figures(tuned_probs, truth, sources[test]),
               "frozen_blend": held_out_figures(blend * frozen_probs + (1 - blend) * lexical_probs, truth,
                                                sources[test]),
               "fine_tuned_blend": held_out_figures(blend * tuned_probs + (1 - blend) * lexical_probs, truth,
                                                    sources[test])}
    lines = []
    for source, before in results["frozen"].items():
        key = "auroc" if "auroc" in before else "flagged_share"
        lines.append([source, before["rows"], "AUROC" if key == "auroc" else "flagged",
                      *(f"{results[kind][source][key]:.3f}" for kind in results)])
    print(table(["held-out source", "rows", "figure", "frozen", "fine-tuned", "frozen + lexical",
                 "fine-tuned + lexical"], lines))
    write_json(args.json, {"what": "group hold-out: frozen-encoder head against the encoder's top layers fine-tuned "
                                   "with the head, each alone and blended with a lexical head fitted on the same "
                                   "rows; P(score >= 2) of whole texts",
                           "held_out": args.hold.split(","), "train_rows": int(len(train)),
                           "layers": args.layers, "epochs": args.epochs, "rate": args.rate, "encoder_weight": blend,
                           "results": results, "seconds": round(time.time() - started, 1)})


if __name__ == "__main__":
    main()
