"""Model stages on their own: a row the model cannot score is rejected alone, not with its batch."""

import numpy as np
import pyarrow as pa

from curation.config import Config
from curation.run.dataset import score_columns
from curation.schema import STREAM_SCHEMA
from curation.stages.embed import EmbedModels, EmbedStage


class ChokesOnPoison:
    """Stands in for the classifier: scores text by length, raises on any text containing 'poison'."""

    def score(self, texts):
        if any("poison" in t for t in texts):
            raise RuntimeError("cannot embed this")
        return np.array([len(t) % 6 for t in texts]), np.full(len(texts), 0.5), [len(t) for t in texts]


def stage_with(classifier) -> EmbedStage:
    return EmbedStage(Config(), threads=1, models=lambda _: EmbedModels(classifier, None))


def test_a_row_that_breaks_the_model_is_rejected_alone():
    batch = pa.table({"shard": ["s"] * 4, "row_index": [0, 1, 2, 3],
                      "text": ["fine", "poison pill", None, "also fine"],
                      "reason": [None, None, "null_text", None]}, schema=STREAM_SCHEMA)
    out = score_columns(stage_with(ChokesOnPoison())(batch))
    assert out["reason"].to_pylist() == [None, "embed_error:RuntimeError", "null_text", None]
    assert out["embed_score"].to_pylist() == [4, None, None, 3]
    assert out["tokens"].to_pylist() == [4, None, None, 9]


class BrokenReflector:
    def annotate(self, texts):
        raise RuntimeError("reflection model is gone")


def test_a_reflection_that_fails_is_a_reject_with_its_stage_not_a_silent_gap():
    from curation.run.outputs import generated_outputs, generated_rejects

    cfg = Config.model_validate({"failures": {"backoff_s": 0}})
    stage = EmbedStage(cfg, threads=1, models=lambda _: EmbedModels(ChokesOnPoison(), BrokenReflector()))
    batch = pa.table({"shard": ["s"] * 3, "row_index": [0, 1, 2], "text": ["fine", None, "also fine"],
                      "reason": [None, "null_text", None]}, schema=STREAM_SCHEMA)
    scores = score_columns(stage(batch))
    assert scores["embed_score"].to_pylist() == [4, None, 3]  # the scores stand
    assert scores["reflection_error"].to_pylist() == ["reflection_error:RuntimeError", None,
                                                      "reflection_error:RuntimeError"]
    ids = pa.array(["a", "b", "c"])
    rejects = generated_rejects(ids, scores, cfg).to_pylist()
    assert [(r["id"], r["stage"], r["reason"]) for r in rejects] == [
        ("a#reflections", "reflections", "reflection_error:RuntimeError"),
        ("c#reflections", "reflections", "reflection_error:RuntimeError")]
    assert generated_outputs(ids, scores, cfg)["reflections"].num_rows == 0


def test_a_batch_that_keeps_failing_marks_every_row_with_the_stage_and_error():
    class Dead:
        def score(self, texts):
            raise RuntimeError("encoder weights are gone")

    class DeadOnBatches(EmbedStage):
        def process(self, batch):
            raise RuntimeError("out of memory")

    cfg = Config.model_validate({"failures": {"backoff_s": 0, "retries": 1}})
    stage = DeadOnBatches(cfg, threads=1, models=lambda _: EmbedModels(Dead(), None))
    batch = pa.table({"shard": ["s"] * 2, "row_index": [0, 1], "text": ["a", "b"], "reason": [None, None]},
                     schema=STREAM_SCHEMA)
    errors = score_columns(stage(batch))["stage_error"].to_pylist()
    assert errors == ["stage embed: RuntimeError: out of memory (2 tries)"] * 2
