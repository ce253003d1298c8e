"""Training a classifier head from labeled (text, score) rows: `safecurate fit-classifier`."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curation.config import EmbedConfig
from curation.models.encoder import LinearHead, load_encoder
from curation.models.score_levels import CLASSES


def load_labeled(paths: list[str | Path], text_column: str = "text",
                 score_column: str = "score") -> tuple[list[str], np.ndarray]:
    """Rows of Parquet or JSON-lines files with a text and an integer 0-5 score."""
    texts, scores = [], []
    for path in paths:
        path = Path(path)
        if path.suffix == ".parquet":
            rows = pq.read_table(path, columns=[text_column, score_column]).to_pylist()
        else:
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for number, row in enumerate(rows, 1):
            text, score = row.get(text_column), row.get(score_column)
            if not isinstance(text, str) or not text.strip() or not isinstance(score, int) or not 0 <= score <= 5:
                raise ValueError(f"{path} row {number}: needs a non-empty {text_column!r} and an "
                                 f"integer {score_column!r} in 0..5")
            texts.append(text)
            scores.append(score)
    if not texts:
        raise ValueError("no labeled rows found")
    return texts, np.asarray(scores, dtype=np.int64)


def provenance(embed: EmbedConfig, dim: int, data: list, regularization: float, seed: int, train_rows: int,
               heldout_rows: int, metrics: dict, refit_all: bool) -> dict:
    """What a trained head records about how it was made (head.json)."""
    return {
        "encoder": embed.model or "all-MiniLM-L6-v2 (packaged)",
        "embedding_dim": int(dim),
        "max_seq_length": embed.max_seq_length,
        "regularization": regularization,
        "seed": seed,
        "train_rows": int(train_rows),
        "heldout_rows": int(heldout_rows),
        "heldout_metrics": metrics,
        "refit_on_all_rows": refit_all,
        "trained_on": [Path(p).name for p in data],
        "created": time.strftime("%Y-%m-%d"),
    }


def fit_classifier(data: list[str | Path], out: str | Path, embed: EmbedConfig, unsafe_weight: float = 2.0,
                   regularization: float = 1.0, test_size: float = 0.2, threshold: int = 2,
                   seed: int = 0, refit_all: bool = True) -> dict:
    """Embed, split, fit on the train part, evaluate on the held-out part, save the head.

    With `refit_all` the saved head is then refit on every row with the same settings
    (the printed metrics are those of the train-split fit).
    """
    from sklearn.model_selection import train_test_split

    texts, scores = load_labeled(data)
    encoder = load_encoder(embed)
    embeddings = encoder.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
    idx = np.arange(len(texts))
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=scores)
    weight, bias = fit_head(embeddings[train], scores[train], unsafe_weight, regularization, seed)
    head = LinearHead(weight=weight, bias=bias, info={})
    cumulative_threshold = embed.cumulative_threshold or 0.5
    metrics = evaluate(head, embeddings[test], scores[test], threshold, cumulative_threshold)
    if refit_all:
        head.weight, head.bias = fit_head(embeddings, scores, unsafe_weight, regularization, seed)
    head.info = {
        "classes": list(range(6)),
        "cumulative_threshold": cumulative_threshold,
        "unsafe_weight": unsafe_weight,
        **provenance(embed, embeddings.shape[1], data, regularization, seed,
                     len(texts) if refit_all else len(train), len(test), metrics, refit_all),
    }
    head.save(out)
    return metrics


def fit_head(embeddings: np.ndarray, scores: np.ndarray, unsafe_weight: float,
             regularization: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression; rows with score > 0 weigh `unsafe_weight` times more."""
    return fit_softmax(embeddings, scores, np.where(scores > 0, unsafe_weight, 1.0), regularization, seed)


def fit_softmax(features, scores: np.ndarray, weights: np.ndarray, regularization: float, seed: int,
                max_iter: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """(weight (6, d), bias (6,)) of a weighted multinomial logistic regression over dense or sparse features."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=regularization, max_iter=max_iter, random_state=seed)
    if len(np.unique(scores)) < 2:
        raise ValueError("labeled rows need at least two different scores")
    model.fit(features, scores, sample_weight=weights)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: logits (0, w.x + b)
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight = np.zeros((CLASSES, features.shape[1]), dtype=np.float32)
    bias = np.full(CLASSES, -1e4, dtype=np.float32)  # a class absent from training never wins
    for row, cls in enumerate(model.classes_):
        weight[int(cls)] = coef[row]
        bias[int(cls)] = intercept[row]
    return weight, bias


def evaluate(head: LinearHead, embeddings: np.ndarray, scores: np.ndarray, threshold: int,
             cumulative_threshold: float | None) -> dict:
    """Held-out metrics: 6-way macro F1, binary precision/recall/F1 at `score >= threshold`, AUROC."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score

    predicted, probs = head.scores(embeddings, cumulative_threshold)
    truth = scores >= threshold
    flagged = predicted >= threshold
    precision, recall, f1, _ = precision_recall_fscore_support(truth, flagged, average="binary",
                                                               zero_division=0)
    any_harm = scores > 0
    both = 0 < any_harm.sum() < len(scores)
    auroc = roc_auc_score(any_harm, 1.0 - probs[:, 0]) if both else math.nan
    auroc_score = roc_auc_score(any_harm, predicted) if both else math.nan
    return {
        "rows": int(len(scores)),
        "threshold": threshold,
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "auroc_any_harm": round(float(auroc), 4),
        "auroc_any_harm_of_score": round(float(auroc_score), 4),
        "macro_f1_6way": round(float(f1_score(scores, predicted, average="macro")), 4),
    }
