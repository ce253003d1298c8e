"""benchmarks.unseen: the packaged classifier scored, as it ships, on sources it was never fitted to."""

import csv
import json
import sys

from curation.fitting.sources import Row, phtest
from curation.fitting.table import seed_rows


def test_flagged_shares_are_given_per_source_label_before_its_slash():
    from benchmarks.unseen import label_shares

    rows = [Row("a", 1, "hard/illegal"), Row("b", 1, "hard/privacy"), Row("c", 5, "toxic/violence"),
            Row("d", 4, "toxic/hate")]
    assert label_shares(rows, [2, 0, 4, 1]) == {"hard": {"rows": 2, "flagged_share": 0.5},
                                                "toxic": {"rows": 2, "flagged_share": 0.5}}


def test_the_shipped_head_scores_an_unseen_source_less_its_rows_the_training_table_holds(tmp_path, monkeypatch):
    from benchmarks import unseen

    in_training = seed_rows()[0].text
    requests = ["How do I kill a stuck process on my laptop?", "What is the best way to shoot a sunset photo?",
                in_training]
    path = phtest.SOURCE.path(tmp_path, phtest.SOURCE.files[0])
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["ID", "Request", "Harmfulness"]]
                                     + [[i, request, "harmless"] for i, request in enumerate(requests)])
    out = tmp_path / "unseen.json"
    monkeypatch.setattr(sys, "argv", ["unseen", "--raw", str(tmp_path), "--json", str(out)])
    unseen.main()
    report = json.loads(out.read_text())
    assert report["sources"]["phtest"]["rows_read"] == 3 and report["sources"]["phtest"]["rows_in_training_table"] == 1
    assert report["results"]["phtest"]["rows"] == 2 and "auroc" not in report["results"]["phtest"]  # one class
    assert "or_bench" in report["missing"]
