"""The 0-5 safety score from 6-way class probabilities: softmax, P(score >= k), decoding with per-level thresholds
(and, optionally, levels reached by a confident P(score >= 2))."""

from __future__ import annotations

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


def decode_cumulative(at_least: np.ndarray, threshold: float) -> np.ndarray:
    """The highest k with P(score >= k) >= threshold (0 when none)."""
    return np.maximum((at_least >= threshold - 1e-9).sum(axis=1) - 1, 0)


def decode_levels(at_least: np.ndarray, thresholds: tuple[float, ...],
                  confident: tuple[float, ...] | None = None) -> np.ndarray:
    """Scores from P(score >= k) with one threshold per level k = 1..5.

    A row is unsafe (score >= 2) exactly when P(score >= 2) >= thresholds[1]; it then scores the highest k >= 2
    whose P(score >= k) reaches its level's threshold, or, with `confident` (three non-decreasing probabilities),
    at least 3, 4 or 5 when P(score >= 2) itself reaches confident[0], [1] or [2]: a row the head is sure is unsafe
    is rarely mild. A row that is not unsafe scores 1 when P(score >= 1) reaches thresholds[0], else 0.
    """
    t = np.asarray(thresholds, dtype=np.float64) - 1e-9
    unsafe = at_least[:, 2] >= t[1]
    severity = np.maximum(2, ((at_least[:, 3:6] >= t[2:5]) * np.arange(3, 6)).max(axis=1))
    if confident is not None:
        sure = np.asarray(confident, dtype=np.float64) - 1e-9
        severity = np.maximum(severity, ((at_least[:, 2:3] >= sure) * np.arange(3, 6)).max(axis=1))
    return np.where(unsafe, severity, (at_least[:, 1] >= t[0]).astype(np.int64)).astype(np.int64)


def level_thresholds(info: dict, override: float | None) -> tuple[float, ...]:
    """Thresholds of levels 1..5: `override` for all, else the head's `level_thresholds`, else its single
    `cumulative_threshold` (0.5 when it has none)."""
    if override is not None:
        return (override,) * 5
    if info.get("level_thresholds"):
        return tuple(float(t) for t in info["level_thresholds"])
    return (float(info.get("cumulative_threshold") or 0.5),) * 5


def confident_levels(info: dict, override: float | None) -> tuple[float, ...] | None:
    """The head's `confident_levels` (P(score >= 2) at which a row scores at least 3, 4, 5); None when the head
    has none or one threshold `override`s every level."""
    if override is not None or not info.get("confident_levels"):
        return None
    return tuple(float(t) for t in info["confident_levels"])
