"""Refusal detector precision and recall on labeled model responses the project did not write.

Scores `curation.generation.refusal.is_refusal` (a refusal phrase near the start and no sign of compliance) and
`opens_with_refusal` (the phrase part alone) against public, human-labeled responses fetched into --raw as
<owner>+<repo>/<path in repo>. Prints per source and pooled: labeled rows, refusals, precision, recall and F1 of
both functions (a refusal is the positive class), the share each function flags per original label (also the
labels left out of the binary figures), and a few misclassified responses (first 100 characters, printed only;
no third-party text goes into the JSON). Writes JSON.

    python -m benchmarks.refusal_detection --raw FOLDER [--examples 4]
        [--json benchmarks/results/refusal_detection.json]

Sources (both read as they are in the repository; nothing is sampled):

- do-not-answer (Wang et al. 2023, "Do-Not-Answer: A Dataset for Evaluating Safeguards in LLMs"), Apache-2.0.
  The original repository, Libr-AI/do-not-answer, could not be fetched here; its English data are vendored
  unchanged in kunishou/do-not-answer-ja (Apache-2.0): datasets/Review/Human/annotated_response_<model>.csv,
  939 risky questions answered by each of GPT-4, ChatGPT, Claude, ChatGLM2, llama2-7b-chat and vicuna-7b, with
  the human "action" label of the paper: 0 the model is not willing to answer (refuses); 1 refutes the opinion or
  false premise of the question; 2 offers a well-rounded statement with dual perspectives; 3 perceives the risk
  and answers with a disclaimer or a referral to an expert; 4 cannot answer for lack of ability or knowledge ("As
  an AI, I don't have access to ..."); 5 follows the instruction. Mapping: 0 -> refuses; 1, 2, 5 -> complies
  (the reply answers); 3 and 4 are left out of precision and recall because they hold both kinds (3: "Sorry, but
  I can't assist with that. Please see a doctor" beside answers with a disclaimer; 4: a statement of inability
  that is neither a safety refusal nor an answer), and only their flagged share is reported.
- RBR gold set (Mu et al. 2024, "Rule Based Rewards for Language Model Safety"), openai/safety-rbr-code-and-data,
  MIT: data/rbr_gold_data/{train,test}.jsonl, 518 completions (many written to show a style or a failure) with
  human proposition labels. `response_type` is the ideal behaviour for the prompt, not a label of the completion,
  so the completion's own propositions are used: `partially_complies` or `fully_complies` -> complies (it hands
  over some of the requested content); neither -> refuses (hard refusals, soft refusals, deflections). The flagged
  share is also reported for the refusals with and without an explicit `inability_to_comply` statement.

Not used, by the project's rule: XSTest or anything bundling it, openai/moderation-api-release, AdvBench copies,
Alpaca data (kept for evaluation elsewhere).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.common import machine, table, versions
from curation.generation.refusal import COMPLIES, OPENING_CHARS, PHRASES, is_refusal, opens_with_refusal

DNA_REPO = "kunishou+do-not-answer-ja"
DNA_MODELS = ("GPT4", "ChatGPT", "Claude", "ChatGLM2", "llama2-7b-chat", "vicuna-7b")
DNA_REFUSES, DNA_COMPLIES = {0}, {1, 2, 5}
DNA_ACTIONS = {0: "refuses", 1: "refutes premise", 2: "dual perspectives", 3: "disclaimer or referral",
               4: "cannot (knowledge or ability)", 5: "follows instruction"}
RBR_REPO = "openai+safety-rbr-code-and-data"
DETECTORS: dict[str, Callable[[str], bool]] = {"is_refusal": is_refusal, "opens_with_refusal": opens_with_refusal}

Row = tuple[str, bool | None, str, str]
"""(response, refuses: True / False / None when left out, original label, part of the source)"""


def do_not_answer(raw: Path) -> Iterator[Row]:
    folder = raw / DNA_REPO / "datasets" / "Review" / "Human"
    for model in DNA_MODELS:
        with (folder / f"annotated_response_{model}.csv").open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                action = int(record["action"])
                truth = True if action in DNA_REFUSES else False if action in DNA_COMPLIES else None
                yield record["response"], truth, f"{action} {DNA_ACTIONS[action]}", model


def rbr_gold(raw: Path) -> Iterator[Row]:
    for split in ("train", "test"):
        path = raw / RBR_REPO / "data" / "rbr_gold_data" / f"{split}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            props = record["propositions"]
            text = record["completion"][-1]["content"]
            if props.get("fully_complies"):
                yield text, False, "fully complies", split
            elif props.get("partially_complies"):
                yield text, False, "partially complies", split
            elif props.get("inability_to_comply"):
                yield text, True, "no compliance, explicit inability", split
            else:
                yield text, True, "no compliance, no explicit inability", split


SOURCES: dict[str, Callable[[Path], Iterator[Row]]] = {
    "do-not-answer (human)": do_not_answer,
    "rbr-gold (human)": rbr_gold,
}


def scores(truth: list[bool], predicted: list[bool]) -> dict:
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    fp = sum(p and not t for t, p in zip(truth, predicted, strict=True))
    fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate(rows: list[Row]) -> dict:
    """Binary figures on the rows with a refuses / complies label, flagged share on every original label."""
    labeled = [r for r in rows if r[1] is not None]
    truth = [bool(r[1]) for r in labeled]
    out = {"rows": len(labeled), "refusals": sum(truth), "left_out": len(rows) - len(labeled)}
    for name, detect in DETECTORS.items():
        out[name] = scores(truth, [detect(r[0]) for r in labeled])
    by_label: dict[str, dict] = {}
    for label in sorted({r[2] for r in rows}):
        texts = [r[0] for r in rows if r[2] == label]
        by_label[label] = {"rows": len(texts), **{f"{name}_share": round(sum(map(detect, texts)) / len(texts), 4)
                                                   for name, detect in DETECTORS.items()}}
    out["flagged_share_by_label"] = by_label
    return out


def mistakes(rows: list[Row], count: int) -> dict[str, list[str]]:
    """The first misclassified responses of is_refusal, each as its first 100 characters (printed, not stored)."""
    found: dict[str, list[str]] = {"false refusal": [], "missed refusal": []}
    for text, truth, label, _ in rows:
        if truth is None:
            continue
        kind = "false refusal" if is_refusal(text) and not truth else "missed refusal" if truth and not is_refusal(
            text) else None
        if kind and len(found[kind]) < count:
            found[kind].append(f"[{label}] " + " ".join(text.split())[:100])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of fetched sources, <owner>+<repo>/<path>")
    parser.add_argument("--examples", type=int, default=4, help="misclassified responses printed per kind and source")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/refusal_detection.json"))
    args = parser.parse_args()
    started = time.time()
    results, parts, pooled = {}, {}, []
    for source, load in SOURCES.items():
        rows = list(load(args.raw))
        pooled += rows
        results[source] = evaluate(rows)
        parts[source] = {part: {k: v for k, v in evaluate([r for r in rows if r[3] == part]).items()
                                if k != "flagged_share_by_label"}
                         for part in dict.fromkeys(r[3] for r in rows)}
        print(f"\n{source}: misclassified by is_refusal (first 100 characters)")
        for kind, examples in mistakes(rows, args.examples).items():
            for example in examples:
                print(f"  {kind}: {example}")
    results["pooled"] = evaluate(pooled)
    print_results(results, parts)
    report = {"what": "precision, recall and F1 of the refusal detector (a refusal is positive) on public "
                      "human-labeled model responses; flagged share per original label",
              "label_mapping": {
                  "do-not-answer (human)": "action 0 -> refuses; 1, 2, 5 -> complies; 3, 4 left out",
                  "rbr-gold (human)": "partially_complies or fully_complies -> complies; neither -> refuses"},
              "sources": {"do-not-answer (human)": {"repo": "kunishou/do-not-answer-ja (vendors Libr-AI/do-not-answer)",
                                                    "license": "Apache-2.0",
                                                    "files": "datasets/Review/Human/annotated_response_*.csv"},
                          "rbr-gold (human)": {"repo": "openai/safety-rbr-code-and-data", "license": "MIT",
                                               "files": "data/rbr_gold_data/{train,test}.jsonl"}},
              "detector": {"phrases": len(PHRASES), "opening_chars": OPENING_CHARS, "complies": COMPLIES.pattern},
              "results": results, "parts": parts, "seconds": round(time.time() - started, 1),
              "machine": machine(), "versions": versions()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


def print_results(results: dict, parts: dict) -> None:
    headers = ["source", "rows", "refusals", "P is_ref", "R is_ref", "F1 is_ref", "P opens", "R opens", "F1 opens"]
    lines = []
    for name, m in [*results.items(), *((f"  {s} / {p}", m) for s, ps in parts.items() for p, m in ps.items())]:
        lines.append([name, m["rows"], m["refusals"],
                      *(m[d][k] for d in DETECTORS for k in ("precision", "recall", "f1"))])
    print("\n" + table(headers, lines))
    print("\nflagged share per original label (is_refusal / opens_with_refusal)")
    for name, m in results.items():
        if name == "pooled":
            continue
        for label, share in m["flagged_share_by_label"].items():
            print(f"  {name:<22} {label:<38} {share['rows']:>5}  {share['is_refusal_share']:.3f}  "
                  f"{share['opens_with_refusal_share']:.3f}")


if __name__ == "__main__":
    main()
