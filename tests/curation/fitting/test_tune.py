"""Fine-tuning the encoder's top layers from cached lower states (curation.fitting.tune)."""

import numpy as np
import pytest

from curation.config import EmbedConfig
from curation.fitting.tune import TopLayers
from curation.models.encoder import LinearHead, load_encoder
from tests.curation.fitting.test_fitting import HATE, SAFE

pytestmark = pytest.mark.timeout(300)


def test_embeddings_from_cached_lower_states_are_the_sentence_encoders():
    texts = SAFE + HATE + ["A much longer paragraph about the history of the city library. " * 12]
    tuner = TopLayers(layers=2)
    cached = tuner.embed(tuner.states(texts, max_tokens=256))
    direct = load_encoder(EmbedConfig()).encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert np.abs(cached - direct).max() < 1e-4


def test_tuning_learns_the_rows_and_changes_only_the_top_layers():
    texts, scores = SAFE + HATE, np.array([0] * 4 + [3] * 4)
    tuner = TopLayers(layers=1)
    lower = {k: v.clone() for k, v in tuner.model.encoder.layer[0].state_dict().items()}
    top = {k: v.clone() for k, v in tuner.model.encoder.layer[-1].state_dict().items()}
    states = tuner.states(texts, max_tokens=128)
    untrained = LinearHead(weight=np.zeros((6, 384)), bias=np.zeros(6), info={})
    tuned = tuner.tune(states, scores, np.ones(len(texts)), untrained, epochs=20, rate=1e-3, log=lambda m: None)
    probs = tuned.probabilities(tuner.embed(states))
    assert (probs.argmax(1) == scores).all()
    assert probs[np.arange(len(texts)), scores].mean() > 0.5  # from 1/6 untrained
    assert all((tuner.model.encoder.layer[0].state_dict()[k] == v).all() for k, v in lower.items())
    assert any((tuner.model.encoder.layer[-1].state_dict()[k] != v).any() for k, v in top.items())
