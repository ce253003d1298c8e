"""Tuned layers on disk as int8 differences from the layers they were tuned from (curation.models.layer_delta)."""

import numpy as np
import pytest

from curation.models.layer_delta import read_layers, write_layers


def layers(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"layer.dense.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32),
            "layer.dense.bias": rng.normal(0, 0.05, 64).astype(np.float32)}


def tuned_from(base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {k: v + rng.normal(0, 0.003, v.shape).astype(np.float32) for k, v in base.items()}


def test_layers_read_back_close_to_the_tuned_ones_in_about_a_quarter_of_float32(tmp_path):
    base = layers()
    tuned = tuned_from(base)
    tuned["layer.dense.weight"][3] = base["layer.dense.weight"][3]  # a row tuning left alone stays exact
    write_layers(tmp_path / "top.safetensors", tuned, base)
    back = read_layers(tmp_path / "top.safetensors", base)
    assert set(back) == set(tuned)
    for name, value in tuned.items():
        assert np.abs(back[name] - value).max() < 1e-4
    assert (back["layer.dense.weight"][3] == base["layer.dense.weight"][3]).all()
    float32_bytes = sum(v.nbytes for v in tuned.values())
    assert (tmp_path / "top.safetensors").stat().st_size < 0.4 * float32_bytes + 1024
    assert not list(tmp_path.glob("*.partial"))


def test_layers_over_other_weights_or_in_another_format_are_refused(tmp_path):
    from safetensors.numpy import save_file

    base = layers()
    write_layers(tmp_path / "top.safetensors", tuned_from(base), base)
    other = layers(seed=7)  # same names and shapes, other weights: the differences would mean nothing
    with pytest.raises(ValueError, match="another encoder"):
        read_layers(tmp_path / "top.safetensors", other)
    with pytest.raises(ValueError, match="another encoder"):
        read_layers(tmp_path / "top.safetensors", {"layer.dense.weight": base["layer.dense.weight"]})
    save_file(tuned_from(base), str(tmp_path / "plain.safetensors"))  # whole weights, no format: not guessed at
    with pytest.raises(ValueError, match="make head"):
        read_layers(tmp_path / "plain.safetensors", base)
