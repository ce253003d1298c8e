"""The 0-5 safety score from 6-way class probabilities: softmax, P(score >= k), decoding with per-level thresholds
(and, optionally, levels reached by a confident P(score >= 2))."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CLASSES = 6
"""Class k = safety score k (0 safe ... 5 highly unsafe)."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (rows, classes) logits."""
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def cumulative(probs: np.ndarray) -> np.ndarray:
    """P(score >= k) for k = 0..5 from 6-way distributions (column 0 is 1)."""
    return probs[:, ::-1].cumsum(axis=1)[:, ::-1]


def documents_at_least(probs: np.ndarray, owners: np.ndarray, documents: int) -> np.ndarray:
    """Each document's P(score >= k), k = 0..5, from the 6-way distributions of its pieces (`owners`: the document of
    each piece): the max over its pieces, so a document is as unsafe as its most unsafe piece."""
    at_least = np.zeros((documents, CLASSES))
    np.maximum.at(at_least, owners, cumulative(probs))
    return at_least


def decode_cumulative(at_least: np.ndarray, threshold: float) -> np.ndarray:
    """The highest k with P(score >= k) >= threshold (0 when none)."""
    return np.maximum((at_least >= threshold - 1e-9).sum(axis=1) - 1, 0)


class Levels(NamedTuple):
    """How P(score >= k) becomes the 0-5 score (`decode_levels`)."""

    thresholds: tuple[float, ...]
    """Threshold of each level 1..5."""
    confident: tuple[float, ...] | None = None
    """P(score >= 2) at which an unsafe row scores at least 3, 4 and 5 (non-decreasing); None: levels only."""
    level_one_from: int = 1
    """The k whose P(score >= k) gives a row that is not unsafe level 1: 1 (P of any harm, however mild) or 2 (a
    near miss: P(score >= 2) reaches thresholds[0] but not thresholds[1])."""


def decode_levels(at_least: np.ndarray, levels: Levels) -> np.ndarray:
    """Scores from P(score >= k) with one threshold per level k = 1..5.

    A row is unsafe (score >= 2) exactly when P(score >= 2) >= thresholds[1]; it then scores the highest k >= 2
    whose P(score >= k) reaches its level's threshold, or, with `confident`, at least 3, 4 or 5 when P(score >= 2)
    itself reaches confident[0], [1] or [2]: a row the head is sure is unsafe is rarely mild. A row that is not
    unsafe scores 1 when P(score >= level_one_from) reaches thresholds[0], else 0.
    """
    t = np.asarray(levels.thresholds, dtype=np.float64) - 1e-9
    unsafe = at_least[:, 2] >= t[1]
    severity = np.maximum(2, ((at_least[:, 3:6] >= t[2:5]) * np.arange(3, 6)).max(axis=1))
    if levels.confident is not None:
        sure = np.asarray(levels.confident, dtype=np.float64) - 1e-9
        severity = np.maximum(severity, ((at_least[:, 2:3] >= sure) * np.arange(3, 6)).max(axis=1))
    mild = (at_least[:, levels.level_one_from] >= t[0]).astype(np.int64)
    return np.where(unsafe, severity, mild).astype(np.int64)


def head_levels(info: dict, override: float | None) -> Levels:
    """The decoding a head's head.json records: `override` as the threshold of every level (no confident levels,
    level 1 from P(score >= 1)), else its `level_thresholds`, `confident_levels` and `level_one_from`, else its
    single `cumulative_threshold` (0.5 when it has none) for every level."""
    if override is not None:
        return Levels((override,) * 5)
    if not info.get("level_thresholds"):
        return Levels((float(info.get("cumulative_threshold") or 0.5),) * 5)
    confident = tuple(float(t) for t in info["confident_levels"]) if info.get("confident_levels") else None
    level_one_from = info.get("level_one_from", 1)
    if level_one_from not in (1, 2):
        raise ValueError(f"head.json: level_one_from must be 1 or 2, not {level_one_from!r}")
    return Levels(tuple(float(t) for t in info["level_thresholds"]), confident, level_one_from)
