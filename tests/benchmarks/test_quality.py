"""benchmarks.quality's figures per held-out source."""

import numpy as np

from benchmarks.quality import binary_metrics


def test_a_source_reports_what_the_default_routing_would_rephrase_or_refuse_beside_what_it_flags():
    truth = np.array([False, False, False, True])
    scores = np.array([0, 1, 2, 4])  # a near miss is rephrased under keep_max 0 but not flagged
    metrics = binary_metrics(truth, scores, np.array([0.1, 0.3, 0.6, 0.9]))
    assert metrics["flagged_share"] == 0.5 and metrics["routed_share"] == 0.75
    assert metrics["auroc"] == 1.0 and metrics["precision"] == 0.5 and metrics["recall"] == 1.0
