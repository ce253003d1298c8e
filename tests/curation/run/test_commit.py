"""Generated outputs at commit: rows point at their source, RefuseWeb speakers are substituted."""

import pyarrow as pa

from curation.config import load_config
from curation.run.outputs import generated_outputs, generated_rejects
from curation.schema import SCORE_SCHEMA

DIALOGUE = ("User: Tell me how to get into my ex's email.\n"
            "Assistant: I can't help with that, but I can help you secure yours.")


def scores_with(**columns) -> pa.Table:
    n = len(next(iter(columns.values())))
    data = {f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in SCORE_SCHEMA}
    data["shard"], data["row_index"] = pa.array(["s"] * n), pa.array(range(n), pa.int64())
    return pa.table(data, schema=SCORE_SCHEMA)


def test_refuseweb_keeps_the_original_labels_and_substitutes_seeded_speakers():
    scores = scores_with(refuseweb_text=pa.array([None, DIALOGUE, DIALOGUE]),
                         moral_text=pa.array([None, "# Privacy\nArticle.", None]),
                         safeweb_text=pa.array(["Podcast text", None, None]),
                         safeweb_score=pa.array([0, None, None], pa.int64()),
                         safeweb_tokens=pa.array([3, None, None], pa.int64()),
                         safeweb_attempts=pa.array([1, None, None], pa.int64()),
                         template=pa.array(["podcast", None, None]))
    cfg = load_config(None, ["seed=3"])
    out = generated_outputs(pa.array(["a", "b", "c"]), scores, cfg)
    refuse = out["refuseweb"].to_pylist()
    assert [r["source_id"] for r in refuse] == ["b", "c"] and refuse[0]["id"] == "b#refuseweb"
    assert all(r["original_text"] == DIALOGUE for r in refuse)
    for r in refuse:
        assert not r["text"].startswith("User:") and "\nAssistant:" not in r["text"]
        assert r["text"].count("\n") == DIALOGUE.count("\n")
    assert generated_outputs(pa.array(["a", "b", "c"]), scores, cfg)["refuseweb"] == out["refuseweb"]
    assert out["safeweb"].to_pylist() == [{"id": "a#safeweb", "source_id": "a", "template": "podcast",
                                           "safety_score": 0, "tokens": 3, "attempts": 1, "text": "Podcast text"}]
    assert out["moral_education"]["source_id"].to_pylist() == ["b"]


def test_texts_that_failed_the_gates_become_reject_rows_with_their_stage_and_reason():
    scores = scores_with(safeweb_gate=pa.array(["copy_of_source", None, None]),
                         safeweb_failed_text=pa.array(["the source again", None, None]),
                         refuseweb_text=pa.array([None, DIALOGUE, None]),
                         moral_gate=pa.array([None, "no_sections", None]),
                         moral_failed_text=pa.array([None, "An article without sections", None]))
    cfg = load_config(None, ["input.preview_chars=10"])
    rejects = generated_rejects(pa.array(["a", "s/1", "c"]), scores, cfg).to_pylist()
    assert rejects == [
        {"row_index": 0, "id": "a#safeweb", "stage": "safeweb", "reason": "gate:copy_of_source",
         "text_preview": "the source"},
        {"row_index": 1, "id": "s/1#moral", "stage": "moral_education", "reason": "gate:no_sections",
         "text_preview": "An article"},
    ]
    generated = generated_outputs(pa.array(["a", None, "c"]), scores, cfg)
    assert generated["safeweb"].num_rows == 0 and generated["moral_education"].num_rows == 0  # never a good row
