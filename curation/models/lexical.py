"""The lexical half of the embedding classifier: hashed word and character n-grams, TF-IDF, a 6-way linear head.

It sees what a sentence encoder smooths over (slurs, obfuscated profanity, the exact words of a request), and
needs no vocabulary file: n-grams are hashed into a fixed number of buckets, so the head is three arrays in a
safetensors file (idf, weight, bias) plus its JSON settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from curation.models.score_levels import CLASSES, softmax


def _vectorizers(n_features: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    common = {"n_features": n_features, "alternate_sign": False, "norm": None, "lowercase": True,
              "dtype": np.float32}
    return (HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common))


def counts(texts: list[str], n_features: int):
    """Sparse n-gram counts: word 1-2-grams and character 3-5-grams hashed into one space of `n_features`."""
    words, chars = _vectorizers(n_features)
    return (words.transform(texts) + chars.transform(texts)).tocsr()


def tfidf(counted, idf: np.ndarray):
    """Sublinear term frequency times idf, each row scaled to unit length."""
    from sklearn.preprocessing import normalize

    weighted = counted.copy()
    weighted.data = 1.0 + np.log(weighted.data)
    return normalize(weighted.multiply(idf[None, :]).tocsr(), norm="l2", copy=False)


def fit_idf(counted) -> np.ndarray:
    """Smoothed inverse document frequency per bucket (scikit-learn's formula)."""
    documents = np.bincount(counted.indices, minlength=counted.shape[1])
    return (np.log((1 + counted.shape[0]) / (1 + documents)) + 1.0).astype(np.float32)


@dataclass
class LexicalHead:
    """Softmax regression over hashed n-gram TF-IDF: class k = safety score k."""

    idf: np.ndarray  # (n_features,)
    weight: np.ndarray  # (6, n_features)
    bias: np.ndarray  # (6,)
    info: dict

    def probabilities(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, CLASSES))
        return self.probabilities_of_counts(counts(texts, len(self.idf)))

    def probabilities_of_counts(self, counted) -> np.ndarray:
        """The 6-way distribution of rows already counted by `counts`."""
        return softmax(np.asarray(tfidf(counted, self.idf) @ self.weight.T) + self.bias)

    def save(self, folder: str | Path) -> None:
        """The arrays as safetensors (idf and weights in float16: half the file, scores equal to 3 decimals),
        the settings as JSON."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"idf": np.ascontiguousarray(self.idf, np.float16),
                   "weight": np.ascontiguousarray(self.weight, np.float16),
                   "bias": np.ascontiguousarray(self.bias, np.float32)}, str(folder / "lexical.safetensors"))
        (folder / "lexical.json").write_text(json.dumps(self.info, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> LexicalHead | None:
        """The head saved in `folder`, or None when the folder has none (an encoder-only head)."""
        folder = Path(folder)
        if not (folder / "lexical.safetensors").exists():
            return None
        tensors = load_file(str(folder / "lexical.safetensors"))
        info = json.loads((folder / "lexical.json").read_text())
        if tensors["weight"].shape != (CLASSES, len(tensors["idf"])):
            raise ValueError(f"lexical head {folder} has shape {tensors['weight'].shape}, expected (6, buckets)")
        return cls(idf=tensors["idf"].astype(np.float32), weight=tensors["weight"].astype(np.float32),
                   bias=tensors["bias"].astype(np.float32), info=info)
