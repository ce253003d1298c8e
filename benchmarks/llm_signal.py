"""Does the packaged LLM rubric scorer earn its vote on CPU? Its continuous signal (expected score from the
probabilities of the digits 0-5) and its greedy score, per public source.

The rubric prompt (prefilled up to the score) gets one generated token with the top-20 log-probabilities; the
probabilities of the digits 0-5 among them, renormalised, give an expected score and an argmax. Per source (label:
score >= 2) and pooled, the AUROC of: the LLM's expected score; the packaged embedding classifier's P(score >= 2);
the paper's max rule, max(embedding score, LLM argmax) as integers; and a blend, 0.5 * P + 0.5 * expected / 5.
The packaged embedding head was trained on these same sources, so its own figure is in-sample: the question is
only whether the LLM adds anything to it. Rows come from the training table, a seeded sample per source, half
score <= 1 and half score >= 2 where the source has both. Writes JSON.

    python -m benchmarks.llm_signal --raw FOLDER [--per-source 60] [--json benchmarks/results/llm_signal.json]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import table, write_json

ROOT = Path(__file__).parents[1]
DIGITS = 6
TOP_LOGPROBS = 20
BATCH = 128
MARGIN = 0.005
"""The pooled AUROC a combination must beat the embedding's by for the LLM to count as adding signal."""
IN_SAMPLE = ("the packaged embedding head was trained on these same sources: its own AUROC is in-sample; only "
             "whether the LLM adds to it is measured here")


def sample(scores: np.ndarray, sources: np.ndarray, per_source: int, seed: int) -> np.ndarray:
    """Row indices: up to `per_source` per source, half score <= 1 and half >= 2, the short side filled from the
    other; sources interleaved."""
    rng, chosen = np.random.default_rng(seed), []
    for source in np.unique(sources):
        low = np.flatnonzero((sources == source) & (scores <= 1))
        high = np.flatnonzero((sources == source) & (scores >= 2))
        n_high = min(len(high), per_source // 2)
        n_low = min(len(low), per_source - n_high)
        n_high = min(len(high), per_source - n_low)
        chosen += [rng.choice(low, n_low, replace=False), rng.choice(high, n_high, replace=False)]
    return rng.permutation(np.concatenate(chosen))


def digit_ids(tokenizer) -> list[int]:
    ids = [tokenizer.encode(str(k), add_special_tokens=False) for k in range(DIGITS)]
    if any(len(i) != 1 for i in ids):
        raise ValueError(f"the model's tokenizer splits a digit 0-5 into several tokens ({ids}): no one-token score")
    return [i[0] for i in ids]


def digit_probabilities(scorer, texts: list[str]) -> tuple[np.ndarray, float]:
    """(P(digit k) among 0-5 per text, NaN rows where no digit is in the top log-probabilities; seconds)."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=1, temperature=0, logprobs=TOP_LOGPROBS)
    digits = digit_ids(scorer.tokenizer)
    probs = np.full((len(texts), DIGITS), np.nan)
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        prompts = [{"prompt_token_ids": scorer.prompt_ids(t)} for t in texts[start:start + BATCH]]
        for row, output in enumerate(scorer.llm.generate(prompts, params, use_tqdm=False), start):
            top = output.outputs[0].logprobs[0]
            p = np.array([math.exp(top[i].logprob) if i in top else 0.0 for i in digits])
            if p.sum() > 0:
                probs[row] = p / p.sum()
        done = min(start + BATCH, len(texts))
        print(f"LLM {done}/{len(texts)} docs, {time.perf_counter() - started:.0f} s", flush=True)
    return probs, time.perf_counter() - started


def auroc(truth: np.ndarray, signal: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(truth, signal)), 4) if 0 < truth.sum() < len(truth) else None


def figures(truth: np.ndarray, expected: np.ndarray, argmax: np.ndarray, score: np.ndarray,
            prob: np.ndarray) -> dict:
    return {"rows": int(len(truth)), "unsafe": int(truth.sum()),
            "auroc_llm_expected": auroc(truth, expected), "auroc_embed_prob": auroc(truth, prob),
            "auroc_max_rule": auroc(truth, np.maximum(score, argmax)),
            "auroc_blend": auroc(truth, 0.5 * prob + 0.5 * expected / 5),
            "expected_safe": round(float(expected[~truth].mean()), 3) if (~truth).any() else None,
            "expected_unsafe": round(float(expected[truth].mean()), 3) if truth.any() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources, <owner>+<repo>/<path>")
    parser.add_argument("--per-source", type=int, default=60, help="rows sampled per source (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "llm_signal.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from curation.config import EmbedConfig, LLMConfig
    from curation.fitting.table import build_table, table_columns
    from curation.models.encoder import EmbeddingClassifier
    from curation.models.rubric import RubricScorer

    rows, _ = build_table(args.raw)
    rows = rows.take(sample(np.asarray(rows["score"]), np.asarray(rows["source"]), args.per_source, args.seed))
    texts, scores, sources = table_columns(rows)
    truth = scores >= 2
    print(f"{len(texts)} rows from {len(np.unique(sources))} sources", flush=True)

    cfg = LLMConfig()
    started = time.perf_counter()
    scorer = RubricScorer(cfg)
    engine_start = time.perf_counter() - started
    try:
        probs, llm_seconds = digit_probabilities(scorer, texts)
    finally:
        scorer.close()
    started = time.perf_counter()
    classifier = EmbeddingClassifier(EmbedConfig())
    score, prob, _ = classifier.score(texts)
    embed_seconds = time.perf_counter() - started

    answered = ~np.isnan(probs).any(axis=1)
    expected, argmax = probs @ np.arange(DIGITS), np.where(answered, np.nan_to_num(probs).argmax(axis=1), -1)
    results = {str(s): figures(*(a[answered & (sources == s)] for a in (truth, expected, argmax, score, prob)))
               for s in np.unique(sources)}
    results["POOLED"] = figures(*(a[answered] for a in (truth, expected, argmax, score, prob)))
    pooled = results["POOLED"]
    adds = max(pooled["auroc_max_rule"], pooled["auroc_blend"]) > pooled["auroc_embed_prob"] + MARGIN
    speed = {"llm_docs_per_s": round(len(texts) / llm_seconds, 2), "engine_start_s": round(engine_start, 1),
             "embed_docs_per_s": round(len(texts) / embed_seconds, 2)}

    def cell(value):
        return "-" if value is None else f"{value:.3f}"

    print(table(["source", "rows", "unsafe", "LLM E[s]", "embed P", "max rule", "blend", "E|safe", "E|unsafe"],
                [[name, r["rows"], r["unsafe"], cell(r["auroc_llm_expected"]), cell(r["auroc_embed_prob"]),
                  cell(r["auroc_max_rule"]), cell(r["auroc_blend"]), cell(r["expected_safe"]),
                  cell(r["expected_unsafe"])] for name, r in results.items()]))
    print(f"AUROC for score >= 2; {int((~answered).sum())} rows without a digit in the top {TOP_LOGPROBS} left out")
    counts = dict(zip(*(a.tolist() for a in np.unique(argmax[answered], return_counts=True)), strict=True))
    print(f"LLM argmax counts: {counts}")
    print(f"LLM {speed['llm_docs_per_s']} docs/s (engine start {speed['engine_start_s']} s), "
          f"embedding {speed['embed_docs_per_s']} docs/s")
    print(f"note: {IN_SAMPLE} (head.json trained_on: {classifier.head.info.get('trained_on')})")
    print(f"verdict: llm_adds_signal={adds} (pooled max rule {cell(pooled['auroc_max_rule'])}, blend "
          f"{cell(pooled['auroc_blend'])} vs embedding {cell(pooled['auroc_embed_prob'])} + {MARGIN})")
    write_json(args.json, {
        "benchmark": "llm_signal", "label": "score >= 2", "note": IN_SAMPLE, "per_source": args.per_source,
        "seed": args.seed, "rows": len(texts), "rows_without_digit": int((~answered).sum()),
        "llm": cfg.model_dump(mode="json"), "model": scorer.model_name,
        "head_trained_on": classifier.head.info.get("trained_on"), "speed": speed, "sources": results,
        "verdict": {"llm_adds_signal": bool(adds), "margin": MARGIN,
                    "rule": "pooled AUROC of the max rule or the blend > pooled AUROC of the embedding prob + margin"}})


if __name__ == "__main__":
    main()
