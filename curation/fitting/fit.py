"""`make head`: the packaged default classifier, rebuilt from fetched public sources and the project's seed set.

    python -m curation.fitting.fit --raw FOLDER [--out curation/heads/default]

Builds the training table (curation.fitting.table), embeds every row with the packaged encoder, fits the heads
without each source (curation.fitting.held_out) and scores up to CHOICE_ROWS documents of each source with them as
the pipeline scores documents, chooses the blend weight and the level thresholds on those (curation.fitting.choose),
fits both heads on every row and writes head.safetensors/.json, lexical.safetensors/.json and SOURCES.md.
With `--tune-layers N` the encoder's top N layers are fine-tuned with its head (curation.fitting.tune): the
out-of-source heads come from folds of whole sources, one tune each, and the final tune on every row is written
beside the head as encoder_top.safetensors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from curation.config import EmbedConfig
from curation.fitting.choose import CHOICE_ROWS, choose_blend, choose_levels, held_out_documents
from curation.fitting.heads import FitSettings, fit_heads
from curation.fitting.held_out import held_out_fits
from curation.fitting.table import build_table, table_columns
from curation.models.categories import CATEGORY
from curation.models.encoder import DEFAULT_HEAD, ENCODER_TOP, load_encoder
from curation.models.lexical import counts
from curation.models.packaged import MPNET


def fit_default(raw: Path, out: Path, settings: FitSettings, cap: int = 6000, with_seed: bool = True,
                choice_rows: int = CHOICE_ROWS, model: str | None = None, folds: bool = False) -> dict:
    """Fit and save the default heads for the encoder `model` (scoring.embed.model; empty = the packaged MiniLM);
    returns what head.json records. `folds`: a frozen encoder's out-of-source heads leave out the folds of
    curation/fitting/folds.json (four fits) instead of one source at a time (always so with tuned layers)."""
    if model and settings.tune_layers:
        raise ValueError("tuned layers are fitted on the packaged MiniLM only: leave --model out or tune 0 layers")
    started = time.time()
    table, summary = build_table(raw, cap, settings.seed, with_seed)
    texts, scores, sources = table_columns(table)
    print(f"{len(texts)} rows from {len(summary)} sources; embedding ...", flush=True)
    embed_cfg = EmbedConfig(model=model)
    counted = counts(texts, settings.buckets)
    tuner = None
    if settings.tune_layers:
        from curation.fitting.tune import TopLayers, tuned_heads

        states = TopLayers(settings.tune_layers, settings.seed).states(texts, settings.tune_tokens)
        fits = held_out_fits(embed_cfg, texts, scores, sources, settings, counted=counted, states=lambda: states)
    else:
        embeddings = load_encoder(embed_cfg).encode(texts, batch_size=64, convert_to_numpy=True,
                                                    show_progress_bar=False)
        fits = held_out_fits(embed_cfg, texts, scores, sources, settings, grouped=folds, counted=counted,
                             embeddings=embeddings)
    print(f"scoring up to {choice_rows} documents of each source out of source ...", flush=True)
    documents = held_out_documents(fits, embed_cfg, texts, scores, settings.seed, choice_rows)
    weight, threshold, criterion = choose_blend(documents)
    levels = choose_levels(documents.at_least(weight), documents.scores, documents.sources, threshold)
    print(f"chosen out of source: encoder weight {weight}, level thresholds {levels.thresholds}, confident levels "
          f"{levels.confident}, level 1 from P(score >= {levels.level_one_from})", flush=True)
    if settings.tune_layers:
        print("tuning on every row ...", flush=True)
        head, lexical, tuner = tuned_heads(states, counted, scores, sources, settings)
    else:
        head, lexical = fit_heads(embeddings, counted, scores, sources, settings)
    head.info = {
        "classes": list(range(6)),
        "encoder": f"{model or 'all-MiniLM-L6-v2'} (packaged)" + (f", top {settings.tune_layers} layers tuned "
                                                                  f"({ENCODER_TOP})" if tuner else ""),
        "embedding_dim": int(head.weight.shape[1]),
        "max_seq_length": embed_cfg.max_seq_length,
        "encoder_weight": weight,
        "level_thresholds": list(levels.thresholds),
        "confident_levels": list(levels.confident),
        "level_one_from": levels.level_one_from,
        "chosen_by": (f"up to {choice_rows} documents of every source, each scored as the pipeline scores it (max "
                      "over its chunks and sentence windows) by heads " + ("fitted and tuned without its fold of "
                      "sources" if tuner else "fitted without its fold of sources" if folds else "fitted without it"))
                     + "; encoder weight and the level-2 threshold: "
                     "mean over sources of the balanced accuracy of score >= 2 (flag share on one-class sources); "
                     "levels 3, 4, 5 (non-decreasing): the sum of the mean AUROC of the integer score over "
                     "sources with both classes and the mean over k = 3, 4, 5 of the balanced-accuracy criterion of "
                     "score >= k; then confident levels (P(score >= 2) at which a row scores at least 3, 4, 5; "
                     "increasing) for the same sum; level 1 (from P(score >= 1) or, under the level-2 threshold, from "
                     "P(score >= 2)): mean over sources of the AUROC of the integer score",
        "criterion_best": criterion[f"{weight}/{threshold}"],
        "settings": {k: v for k, v in vars(settings).items()},
        "rows": len(texts),
        "choice_documents": len(documents.scores),
        "sources": summary,
        "created": time.strftime("%Y-%m-%d"),
        "seconds": round(time.time() - started, 1),
    }
    lexical.info = {"buckets": settings.buckets, "features": "word 1-2-grams + char_wb 3-5-grams, hashed, "
                    "sublinear tf-idf, l2", "rows": len(texts)}
    out.mkdir(parents=True, exist_ok=True)
    head.save(out)
    lexical.save(out)
    if tuner:
        tuner.write(out / ENCODER_TOP)
    else:
        (out / ENCODER_TOP).unlink(missing_ok=True)
    (out / "SOURCES.md").write_text(sources_markdown(summary))
    return head.info


def sources_markdown(summary: list[dict]) -> str:
    """The sources file: where each source comes from, its license, rows used and how labels became scores."""
    lines = ["# Training sources of the default classifier", "",
             "Rebuilt by `make head RAW=folder` from the files below, fetched into `folder/<owner>+<repo>/<path>` "
             "(from the commit after `@` where a repository names one). "
             "No third-party text is kept in this repository. Reserved for evaluation and never used here: "
             "openai/moderation-api-release, XSTest, AdvBench (and its copies), the harmless Alpaca split of "
             "andyrdt/refusal_direction.", "",
             "| source | repository | license | kind | rows used (of read) | scores 0/1/2/3/4/5 | mapping |",
             "|---|---|---|---|---|---|---|"]
    for s in summary:
        hist = "/".join(str(s["scores"][str(k)]) for k in range(6))
        lines.append(f"| {s['source']} | {s['repo']} | {s['license']} | {s['kind']} | {s['rows_used']} "
                     f"({s['rows_read']}) | {hist} | {s['mapping']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched files, <owner>+<repo>/<path>")
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD)
    parser.add_argument("--cap", type=int, default=6000, help="most rows taken from one source")
    parser.add_argument("--tune-layers", type=int, default=0,
                        help="fine-tune the encoder's top N layers with its head (0: keep the encoder frozen)")
    parser.add_argument("--model", help=f"encoder (scoring.embed.model), e.g. {MPNET}; default the packaged MiniLM; "
                        "a head for another encoder also gets its category head (category/)")
    parser.add_argument("--folds", action="store_true",
                        help="frozen encoder: out-of-source heads leave out folds of sources, not one source each")
    parser.add_argument("--choice-rows", type=int, default=CHOICE_ROWS,
                        help="documents per source scored out of source to choose the blend and the thresholds")
    args = parser.parse_args()
    info = fit_default(args.raw, args.out, FitSettings(tune_layers=args.tune_layers), args.cap,
                       choice_rows=args.choice_rows, model=args.model, folds=args.folds)
    if args.model:
        from curation.fitting.categories import fit_category_head

        fit_category_head(out=args.out / CATEGORY, embed=EmbedConfig(model=args.model, head=str(args.out)))
    print(json.dumps({k: info[k] for k in ("rows", "encoder_weight", "level_thresholds", "confident_levels",
                                           "level_one_from", "criterion_best")}))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
