"""benchmarks.finetune's figures per held-out source."""

import numpy as np

from benchmarks.finetune import held_out_figures


def _probs(at_least_two: list[float]) -> np.ndarray:
    """6-way rows whose P(score >= 2) is each given value (the rest on score 0)."""
    p = np.array(at_least_two)
    return np.column_stack([1 - p, np.zeros_like(p), p, np.zeros((len(p), 3))])


def test_a_mixed_source_reports_auroc_and_a_one_class_source_the_share_flagged():
    probs = _probs([0.1, 0.7, 0.2, 0.9, 0.5, 0.6, 0.3])
    truth = np.array([False, True, False, True, True, True, True])
    sources = np.array(["comments"] * 4 + ["harmful requests"] * 3)
    figures = held_out_figures(probs, truth, sources)
    assert figures["comments"] == {"rows": 4, "auroc": 1.0}
    assert figures["harmful requests"] == {"rows": 3, "all_unsafe": True, "flagged_share": round(1 / 3, 4)}
