import pytest

from curation.config import Config, ConfigError, load_config


def test_dotted_overrides_reach_nested_fields(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("scoring:\n  llm:\n    max_tokens: 40\nrouting:\n  rephrase_max: 2\n")
    cfg = load_config(path, ["scoring.llm.enabled=false", "resources.embed.actors=[1, 3]", "seed=7"])
    assert cfg.scoring.llm.enabled is False
    assert cfg.scoring.llm.max_tokens == 40
    assert cfg.routing.rephrase_max == 2
    assert cfg.resources.embed.actors == (1, 3)
    assert cfg.seed == 7


def test_unknown_key_is_one_clear_line():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["scoring.llm.enabeld=false"])
    message = str(err.value)
    assert "scoring.llm.enabeld" in message and "\n" not in message


def test_bad_value_names_the_field():
    with pytest.raises(ConfigError, match="routing.rephrase_max"):
        load_config(None, ["routing.keep_max=3", "routing.rephrase_max=1"])


def test_hash_follows_outputs_not_placement():
    base = Config().content_hash()
    assert load_config(None, ["resources.embed.actors=4", "ray.num_cpus=8"]).content_hash() == base
    assert load_config(None, ["routing.rephrase_max=4"]).content_hash() != base


def test_every_field_is_described():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, Config.__mro__[1]):
                walk(sub)

    walk(Config)


def test_routes_follow_thresholds():
    routing = Config().routing
    assert [routing.route(s) for s in range(6)] == ["keep", "rephrase", "rephrase", "rephrase", "refuse", "refuse"]


def test_generated_kinds_follow_the_switches():
    assert load_config(None, []).generation.kinds == ("safeweb", "refuseweb")
    assert load_config(None, ["generation.moral_education=true"]).generation.kinds == (
        "safeweb", "refuseweb", "moral_education")
    assert load_config(None, ["generation.enabled=false", "generation.moral_education=true"]).generation.kinds == ()
