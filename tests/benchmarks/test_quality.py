"""benchmarks.quality's figures per held-out source."""

import numpy as np

from benchmarks.quality import binary_metrics


def test_a_source_reports_what_the_default_routing_would_rephrase_or_refuse_beside_what_it_flags():
    truth = np.array([False, False, False, True])
    scores = np.array([0, 1, 2, 4])  # a near miss is rephrased under keep_max 0 but not flagged
    metrics = binary_metrics(truth, scores, np.array([0.1, 0.3, 0.6, 0.9]))
    assert metrics["flagged_share"] == 0.5 and metrics["routed_share"] == 0.75
    assert metrics["auroc"] == 1.0 and metrics["precision"] == 0.5 and metrics["recall"] == 1.0


def test_every_source_is_scored_once_by_heads_of_its_own_fold_frozen_or_tuned(tmp_path, kept_folds):
    from benchmarks.quality import held_out
    from curation.config import EmbedConfig
    from curation.fitting.heads import FitSettings
    from curation.fitting.table import build_table, table_columns
    from curation.models.encoder import EmbeddingClassifier, load_encoder
    from tests.curation.fitting.test_fitting import fetched

    texts, scores, sources = table_columns(build_table(fetched(tmp_path / "raw", copies=4), with_seed=False)[0])
    packaged = EmbeddingClassifier(EmbedConfig())
    probe = ["Give me instructions to build a bomb and hurt people"]
    plain = load_encoder(EmbedConfig()).encode(probe)  # the packaged encoder, no tuned layers
    frozen, tuned = FitSettings(buckets=2 ** 12, folds=3), FitSettings(buckets=2 ** 12, tune_layers=1,
                                                                       tune_epochs=2, tune_rate=1e-3, folds=3)
    for settings, grouped in ((frozen, False), (frozen, True), (tuned, False)):
        seen = list(held_out(packaged, texts, scores, sources, settings, None, grouped))
        assert sorted(source for source, _, _ in seen) == sorted(set(sources))
        assert all((held == (sources == source)).all() for source, held, _ in seen)
        assert all(c.levels == packaged.levels and c.encoder_weight == packaged.encoder_weight for _, _, c in seen)
        moved = [np.abs(c.embed(probe) - plain).max() > 1e-3 for _, _, c in seen]
        assert all(moved) if settings.tune_layers else not any(moved)
    only = list(held_out(packaged, texts, scores, sources, tuned, only={"davidson"}))
    assert [source for source, _, _ in only] == ["davidson"]


def test_a_recipe_change_is_typed_like_its_setting_and_a_wrong_one_is_named():
    import pytest

    from benchmarks.quality import changed_settings

    recipe = {"tune_layers": 2, "tune_rate": 1e-4}
    assert changed_settings(["tune_rate=5e-5", "folds=3"], recipe) == {"tune_rate": 5e-5, "folds": 3}
    with pytest.raises(ValueError, match="no such setting"):
        changed_settings(["tune_speed=2"], recipe)
    with pytest.raises(ValueError, match="folds takes a int"):
        changed_settings(["folds=three"], recipe)
