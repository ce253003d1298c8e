"""The embedding half of the safety score: a sentence encoder plus a 6-way linear head over its embedding."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from curation.config import EmbedConfig

CLASSES = 6
DEFAULT_HEAD = Path(__file__).parent / "heads" / "default"


@dataclass
class LinearHead:
    """Softmax regression over embeddings: class k = safety score k (0 safe ... 5 highly unsafe)."""

    weight: np.ndarray  # (6, dim)
    bias: np.ndarray  # (6,)
    info: dict

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def scores(self, embeddings: np.ndarray, cumulative_threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
        """(score 0-5, probabilities) per row; see EmbedConfig.cumulative_threshold."""
        probs = self.probabilities(embeddings)
        return decode_scores(probs, cumulative_threshold), probs

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": np.ascontiguousarray(self.weight, np.float32),  # sklearn's arrays are column-major
                   "bias": np.ascontiguousarray(self.bias, np.float32)},
                  str(folder / "head.safetensors"))
        (folder / "head.json").write_text(json.dumps(self.info, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> LinearHead:
        folder = Path(folder)
        try:
            tensors = load_file(str(folder / "head.safetensors"))
            info = json.loads((folder / "head.json").read_text())
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(
                f"classifier head {folder} is unreadable ({exc}); it needs head.safetensors and "
                "head.json, as written by `safecurate fit-classifier`") from None
        weight, bias = tensors["weight"], tensors["bias"]
        if weight.shape[0] != CLASSES or bias.shape != (CLASSES,):
            raise ValueError(f"classifier head {folder} has shape {weight.shape}, expected (6, dim)")
        return cls(weight=weight, bias=bias, info=info)


def decode_scores(probs: np.ndarray, cumulative_threshold: float | None) -> np.ndarray:
    """The highest k with P(score >= k) >= threshold, or the most likely class without one."""
    if cumulative_threshold is None:
        return probs.argmax(axis=1)
    at_least = probs[:, ::-1].cumsum(axis=1)[:, ::-1]
    return np.maximum((at_least >= cumulative_threshold - 1e-9).sum(axis=1) - 1, 0)


def load_encoder(cfg: EmbedConfig):
    """The sentence-transformers encoder named by the config, loaded from local disk only."""
    from sentence_transformers import SentenceTransformer

    if cfg.model:
        path = cfg.model
    else:
        from curation.models import packaged_encoder_dir

        path = str(packaged_encoder_dir())
    encoder = SentenceTransformer(path, device=cfg.device, local_files_only=True)
    encoder.max_seq_length = cfg.max_seq_length
    return encoder


def split_chunks(tokenizer, texts: list[str], max_tokens: int, max_chunks: int):
    """Split each text into near-equal pieces of at most `max_tokens` encoder tokens (cut at token edges).

    Returns the pieces, the index of the text each piece belongs to, and each text's token count.
    """
    window = max(1, max_tokens - 2)  # room for [CLS] and [SEP]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)
    pieces, owners, counts = [], [], []
    for i, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"], strict=True)):
        counts.append(len(offsets))
        if len(offsets) <= window:
            pieces.append(text)
            owners.append(i)
            continue
        count = min(-(-len(offsets) // window), max_chunks)  # near-equal chunks: no few-token tail
        size = -(-min(len(offsets), window * max_chunks) // count)
        for start in range(0, min(len(offsets), size * count), size):
            stop = min(start + size, len(offsets)) - 1
            pieces.append(text[offsets[start][0]:offsets[stop][1]])
            owners.append(i)
    return pieces, np.asarray(owners, dtype=np.int64), counts


class EmbeddingClassifier:
    """Scores documents 0-5: the max over a document's chunks of the head's most likely class."""

    def __init__(self, cfg: EmbedConfig, batch_size: int = 64):
        self.cfg = cfg
        self.batch_size = batch_size
        self.encoder = load_encoder(cfg)
        self.head = LinearHead.load(cfg.head or DEFAULT_HEAD)
        dim = self.encoder.get_embedding_dimension()
        if self.head.weight.shape[1] != dim:
            raise ValueError(f"classifier head expects {self.head.weight.shape[1]}-d embeddings, "
                             f"the encoder gives {dim}-d: train a head for this encoder")
        self.model_name = Path(cfg.model).name if cfg.model else "all-MiniLM-L6-v2"

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   show_progress_bar=False)

    def score(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(score per text, P(unsafe) per text, token count per text)."""
        pieces, owners, counts = split_chunks(self.encoder.tokenizer, texts,
                                              self.cfg.max_seq_length, self.cfg.max_chunks)
        embeddings = self.embed(pieces) if pieces else np.zeros((0, self.head.weight.shape[1]), np.float32)
        chunk_scores, probs = self.head.scores(embeddings, self.cfg.cumulative_threshold)
        scores = np.zeros(len(texts), dtype=np.int64)
        unsafe = np.zeros(len(texts), dtype=np.float64)
        np.maximum.at(scores, owners, chunk_scores)
        np.maximum.at(unsafe, owners, 1.0 - probs[:, 0])
        return scores, unsafe, counts


def fit_head(embeddings: np.ndarray, scores: np.ndarray, unsafe_weight: float,
             regularization: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression; rows with score > 0 weigh `unsafe_weight` times more."""
    from sklearn.linear_model import LogisticRegression

    weights = np.where(scores > 0, unsafe_weight, 1.0)
    model = LogisticRegression(C=regularization, max_iter=5000, random_state=seed)
    if len(np.unique(scores)) < 2:
        raise ValueError("labeled rows need at least two different scores")
    model.fit(embeddings, scores, sample_weight=weights)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: logits (0, w.x + b)
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight = np.zeros((CLASSES, embeddings.shape[1]), dtype=np.float32)
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
