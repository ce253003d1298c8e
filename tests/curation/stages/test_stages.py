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
