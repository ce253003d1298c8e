"""Fitting the category head (curation.models.categories) on the unsafe rows of the labeled seed set.

    python -m curation.fitting.categories [--data FILE ...] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from curation.config import EmbedConfig
from curation.fitting.classifier import provenance
from curation.fitting.table import SEED_DIR
from curation.models.categories import CATEGORIES, CATEGORY_HEAD, SEED_ALIASES, CategoryHead
from curation.models.encoder import ENCODER_TOP, head_folder, load_encoder


def load_unsafe_rows(paths: list[str | Path], min_score: int = 2) -> tuple[list[str], list[str]]:
    """(text, category) of the JSON-lines rows scored >= min_score; categories mapped to CATEGORIES."""
    texts, categories = [], []
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("score"), int) or row["score"] < min_score:
                continue
            category = SEED_ALIASES.get(row.get("category"), row.get("category"))
            if category not in CATEGORIES or not isinstance(row.get("text"), str):
                raise ValueError(f"{path} row {number}: an unsafe row needs a text and a category "
                                 f"in {', '.join(CATEGORIES)} (got {row.get('category')!r})")
            texts.append(row["text"])
            categories.append(category)
    if not texts:
        raise ValueError(f"no rows with score >= {min_score} in {', '.join(map(str, paths))}")
    return texts, categories


def _fit(embeddings: np.ndarray, labels: np.ndarray, regularization: float,
         seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Multinomial logistic regression with balanced class weights (the rarest category has 33 rows)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=5000, random_state=seed)
    model.fit(embeddings, labels)
    # coef_ comes Fortran-ordered and safetensors writes the raw buffer: copy it to C order first
    weight = np.ascontiguousarray(model.coef_, dtype=np.float32)
    return weight, model.intercept_.astype(np.float32), [str(c) for c in model.classes_]


def fit_category_head(data: list[str | Path] | None = None, out: str | Path = CATEGORY_HEAD,
                      embed: EmbedConfig | None = None, regularization: float = 10.0, test_size: float = 0.2,
                      seed: int = 0, refit_all: bool = True) -> dict:
    """Embed the unsafe rows (by the encoder the scoring head uses, its tuned layers included), fit on a stratified
    train split, print held-out macro-F1 and accuracy, save.

    With `refit_all` the saved head is then refit on every row with the same settings (the printed
    metrics are those of the train-split fit). C = 10 with balanced class weights had the best
    5-fold macro-F1 on the train split among C in {1, 4, 10, 30, 100}, balanced or not.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    data = data or sorted(SEED_DIR.glob("*.jsonl"))
    embed = embed or EmbedConfig()
    scoring_head = head_folder(embed)
    texts, categories = load_unsafe_rows(data)
    labels = np.asarray(categories)
    embeddings = load_encoder(embed, scoring_head).encode(texts, batch_size=64, convert_to_numpy=True,
                                                          show_progress_bar=False)
    train, test = train_test_split(np.arange(len(texts)), test_size=test_size, random_state=seed, stratify=labels)
    weight, bias, classes = _fit(embeddings[train], labels[train], regularization, seed)
    predicted = CategoryHead(weight=weight, bias=bias, info={"labels": classes}).predict(embeddings[test])
    metrics = {
        "rows": int(len(test)),
        "macro_f1": round(float(f1_score(labels[test], predicted, average="macro")), 4),
        "accuracy": round(float(accuracy_score(labels[test], predicted)), 4),
    }
    print(f"category head, held-out {metrics['rows']} rows: macro-F1 {metrics['macro_f1']}, "
          f"accuracy {metrics['accuracy']}")
    if refit_all:
        weight, bias, classes = _fit(embeddings, labels, regularization, seed)
    head = CategoryHead(weight=weight, bias=bias, info={
        "labels": classes,
        "class_weight": "balanced",
        "tuned_layers_of": (scoring_head.name if (scoring_head / ENCODER_TOP).is_file() else None),
        **provenance(embed, embeddings.shape[1], data, regularization, seed,
                     len(texts) if refit_all else len(train), len(test), metrics, refit_all),
    })
    head.save(out)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description="Retrain the category head from the labeled seed set.")
    parser.add_argument("--data", nargs="*", type=Path, help="JSON-lines files (default: curation/data/seed/*)")
    parser.add_argument("--out", type=Path, default=CATEGORY_HEAD, help="folder for head.safetensors + head.json")
    parser.add_argument("--regularization", type=float, default=10.0, help="inverse L2 strength C")
    parser.add_argument("--test-size", type=float, default=0.2, help="held-out share for the printed metrics")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    fit_category_head(args.data, args.out, EmbedConfig(), args.regularization, args.test_size, args.seed)
    print(f"head written to {args.out}")


if __name__ == "__main__":
    main()
