"""Fine-tuning the encoder's top layers from cached lower states (curation.fitting.tune)."""

import numpy as np
import pytest

from curation.config import EmbedConfig, load_config
from curation.fitting.tune import TopLayers
from curation.models.encoder import DEFAULT_HEAD, LinearHead, load_encoder
from curation.models.judge import SafetyJudge
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


def test_tuned_layers_written_to_a_head_folder_are_the_ones_its_classifier_scores_with(tmp_path):
    from curation.models.encoder import ENCODER_TOP, EmbeddingClassifier

    texts, scores = SAFE + HATE, np.array([0] * 4 + [3] * 4)
    tuner = TopLayers(layers=2)
    states = tuner.states(texts, max_tokens=256)
    head = tuner.tune(states, scores, np.ones(len(texts)), LinearHead(weight=np.zeros((6, 384)), bias=np.zeros(6),
                                                                      info={}), epochs=5, rate=1e-3, log=lambda m: None)
    head.save(tmp_path)
    tuner.write(tmp_path / ENCODER_TOP)
    classifier = EmbeddingClassifier(EmbedConfig(head=str(tmp_path), lexical=False))
    packaged = load_encoder(EmbedConfig()).encode(texts, convert_to_numpy=True)
    assert classifier.tuned
    assert np.abs(classifier.embed(texts) - tuner.embed(states)).max() < 5e-3  # int8 differences
    assert np.abs(classifier.embed(texts) - packaged).max() > 0.05
    assert EmbeddingClassifier(EmbedConfig(lexical=False)).tuned is (DEFAULT_HEAD / ENCODER_TOP).is_file()
    # the off-topic gate compares meaning, so it keeps the encoder the layers were not tuned for
    cfg = load_config(overrides=[f"scoring.embed.head={tmp_path}", "scoring.embed.lexical=false",
                                 "scoring.llm.enabled=false"])
    unit = packaged / np.linalg.norm(packaged, axis=1, keepdims=True)
    similarity = SafetyJudge(cfg).similarity(texts[:4], texts[4:])
    assert np.allclose(similarity, (unit[:4] * unit[4:]).sum(1), atol=1e-4)


def test_layers_tuned_for_another_encoder_are_refused(tmp_path):
    from curation.models.encoder import set_layers

    encoder = load_encoder(EmbedConfig())
    with pytest.raises(ValueError, match="another encoder"):
        set_layers(encoder, {"encoder.layer.5.output.dense.weight": np.zeros((768, 768), np.float16)})


def test_folds_tuned_once_are_read_back_from_the_cache_not_tuned_again(kept_folds):
    from curation.fitting.heads import FitSettings
    from curation.fitting.tune import fold_cache, tuned_folds
    from curation.models.lexical import counts

    texts = SAFE + HATE + SAFE[::-1] + HATE[::-1] + SAFE[1:] + HATE[1:]
    scores = np.array(([0] * 4 + [3] * 4) * 2 + [0] * 3 + [3] * 3)
    sources = np.array(["a"] * 8 + ["b"] * 8 + ["c"] * 6)
    settings = FitSettings(buckets=2 ** 10, tune_layers=1, tune_epochs=1, tune_rate=1e-3, folds=3)
    cache, counted = fold_cache(texts, scores, sources, settings), counts(texts, settings.buckets)
    tuner = TopLayers(layers=1)
    states = tuner.states(texts, max_tokens=64)

    def embedded(folds):
        return [(held, head.probabilities(top.embed([states[i] for i in np.flatnonzero(held)])))
                for held, (head, _, top) in folds]

    first = embedded(tuned_folds(lambda: states, counted, scores, sources, settings, log=lambda m: None,
                                 cache=cache))

    def no_tuning():
        raise AssertionError("a cached fold was tuned again")

    again = embedded(tuned_folds(no_tuning, counted, scores, sources, settings, log=lambda m: None, cache=cache))
    assert cache.parent == kept_folds and len(first) == len(again) == 3 and len(list(cache.iterdir())) == 3
    for (held, probs), (held_again, probs_again) in zip(first, again, strict=True):
        assert (held == held_again).all() and np.abs(probs - probs_again).max() < 5e-3
    other = FitSettings(buckets=2 ** 10, tune_layers=1, tune_epochs=2, tune_rate=1e-3, folds=3)
    assert fold_cache(texts, scores, sources, other) != cache  # other settings tune anew
    assert fold_cache(texts, scores[::-1], sources, settings) != cache  # so do other labels
