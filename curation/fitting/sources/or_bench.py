"""OR-Bench (Cui et al., 2024): prompts that only sound harmful, which many chat models refuse anyway, beside
truly harmful prompts on the same ten topics.

Both were written by an LLM from harmful seed prompts and kept by an ensemble of LLM moderators: the hard set
("or-bench-hard-1k") holds the rewrites every moderator judged safe yet most models refused, the toxic set the
prompts they judged harmful. A copy converted to JSON lines is read (the original CSVs are only on Hugging Face);
its own 50 hand-written rows (source `human_curated`) are left out.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, jsonl_records, unique_rows

FOLDER = "data/processed/splits/orbench"
HARD, TOXIC = "or-bench-hard-1k", "or-bench-toxic"

# Toxic set, topic -> level.
TOXIC_LEVELS = {
    "violence": 5, "self-harm": 5,  # bombs, stalking, torture, ways to self-harm
    "illegal": 4, "privacy": 4, "deception": 4, "harassment": 4, "hate": 4, "harmful": 4,
    "unethical": 3,  # workplace sabotage, exploiting loopholes, plagiarism
    "sexual": 3,  # explicit sexual content between adults
}

SOURCE = Source(
    name="or_bench",
    repo="aaliyan1230/false-refusal-suppression",
    files=(f"{FOLDER}/discovery.jsonl", f"{FOLDER}/selection.jsonl", f"{FOLDER}/holdout.jsonl"),
    license="CC-BY-4.0 (OR-Bench, bench-llm/or-bench; the copying repository has no licence file of its own, its "
            "own human_curated rows are not read)",
    kind="prompts",
    mapping="or-bench-hard-1k (benign prompts on illegal, privacy, unethical, harmful, deceptive, self-harm, sexual, "
            "violent, hateful or harassing topics) -> 1 (hard topics without harm); or-bench-toxic by topic: "
            "violence, self-harm -> 5; illegal, privacy, deception, harassment, hate, harmful -> 4; unethical, "
            "sexual -> 3",
)


def load(source: Source, root: Path) -> list[Row]:
    rows = []
    for file in source.files:
        for record in jsonl_records(source, root, file):
            if record["source"] == HARD:
                rows.append(Row(record["prompt"], 1, f"hard/{record['topic']}"))
            elif record["source"] == TOXIC:
                rows.append(Row(record["prompt"], TOXIC_LEVELS[record["topic"]], f"toxic/{record['topic']}"))
    return unique_rows(rows)
