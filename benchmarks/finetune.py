"""Does fine-tuning the encoder transfer to unseen sources better than a head on the frozen encoder?

A group of public sources is held out; the rest of the training table (curation/fitting/sources, fetched into
--raw, plus the seed set; each row cut at 128 tokens) trains (a) the 6-way logistic head on frozen
all-MiniLM-L6-v2 embeddings, as the packaged head is made, and (b) the same head fine-tuned together with the
encoder's top `--layers` transformer layers for `--epochs` (weighted cross-entropy with the head's row weights, the
head starting from (a); curation.fitting.tune, the lower layers' states cached once). Both
score the held-out sources by P(score >= 2) of whole texts (no windows): AUROC on sources with safe and unsafe
rows, the share at P >= 0.55 on one-class sources; each alone and blended, as the packaged classifier blends, with
a lexical head fitted on the same training rows (`--encoder-weight`, the packaged head's by default). The blend
decides: the lexical head already sees part of what fine-tuning teaches the encoder. A build-time study: nothing
here is packaged.

    python -m benchmarks.finetune --raw FOLDER [--layers 2] [--epochs 2] [--rate 1e-4]
                                  [--json benchmarks/results/finetune.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import table, write_json
from curation.fitting.heads import FitSettings, fit_heads, row_weights
from curation.fitting.table import build_table, table_columns
from curation.fitting.tune import TopLayers
from curation.models.encoder import DEFAULT_HEAD, LinearHead
from curation.models.lexical import counts
from curation.models.score_levels import cumulative

HELD_OUT = ("convabuse", "surge_toxicity", "stormfront", "toxigen", "do_not_answer", "self_instruct", "harmbench")
"""User comments of four kinds, unsafe and borderline requests, harmless requests, harmful requests."""
TRAIN_TOKENS, SCORE_TOKENS = 128, 256
"""Training rows are cut at 128 tokens (their lower states cached once), scored rows at 256."""


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
    parser.add_argument("--layers", type=int, default=2, help="top transformer layers trained (0: head only)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=1e-4, help="learning rate of the layers (head: 10x)")
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
    import torch

    torch.set_num_threads(args.threads)
    tuner = TopLayers(args.layers, settings.seed)
    train_states = tuner.states([texts[i] for i in train], TRAIN_TOKENS)
    test_states = tuner.states([texts[i] for i in test], SCORE_TOKENS)
    weights = row_weights(scores[train], sources[train], settings.unsafe_weight)
    counted = counts(texts, settings.buckets)
    head, lexical = fit_heads(tuner.embed(train_states), counted[train], scores[train], sources[train], settings)
    lexical_probs = lexical.probabilities_of_counts(counted[test])
    frozen_probs = head.probabilities(tuner.embed(test_states))
    print(f"frozen head fitted ({time.time() - started:.0f} s); fine-tuning the top {args.layers} layers ...",
          flush=True)
    tuned = tuner.tune(train_states, scores[train], weights, head, args.epochs, args.rate,
                       lambda m: print(m, flush=True))
    tuned_probs = tuned.probabilities(tuner.embed(test_states))
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
