"""RunConfig loading, overrides, typo messages and slot resolution."""

import json

import pytest

from gencls_core.config import apply_overrides, build_config
from gencls_core.errors import AmbiguousComponent, ComponentNotFound, ConfigError
from gencls_core.plugins import load_plugins
from gencls_core.resolve import resolve
from gencls_core.testing.distributions import DECODER_PLUGIN
from tests.fakedist import install_fake_plugin


def test_defaults_are_the_embedded_run(gencls_plugins):
    res = resolve(build_config(), gencls_plugins)
    names = {k: s.entry.name for k, s in res.slots.items()}
    assert names == {"model": "smollm2-135m-instruct", "dataset": "movie-reviews", "labels": "names",
                     "prompt": "zero-shot", "inference_labels": "names", "inference_prompt": "zero-shot",
                     "decoder": "perplexity"}
    assert [s.entry.name for s in res.evaluators] == ["accuracy", "f1", "per-class", "confusion", "calibration",
                                                      "coverage", "multi-label"]
    resolved = res.resolved_config()
    assert resolved["dataset"] == {"name": "movie-reviews", "part": "rotten-tomatoes"}
    assert resolved["splits"]["test_size"] == 200


def test_overrides_parse_yaml_values_and_expand_name_shorthands():
    data = apply_overrides({"decoder": "generate"},
                           ["decoder.max_new_tokens=4", "seed=7", "plugins=[a, b]", "evaluators.0=f1",
                            "splits.test_size=0.25"])
    assert data["decoder"] == {"name": "generate", "max_new_tokens": 4}
    assert data["seed"] == 7 and data["plugins"] == ["a", "b"]
    cfg = build_config({"evaluators": ["accuracy"]}, ["evaluators.0=f1", "splits.test_size=0.25"])
    assert cfg.evaluators[0].name == "f1" and cfg.splits.test_size == 0.25


def test_yaml_and_json_files_load(tmp_path):
    y = tmp_path / "run.yaml"
    y.write_text("seed: 3\ndecoder: generate\nsplits:\n  test_size: 50\n")
    j = tmp_path / "run.json"
    j.write_text(json.dumps({"seed": 4, "decoder": {"name": "perplexity", "normalize": "mean"}}))
    assert build_config(y).decoder.name == "generate" and build_config(y).splits.test_size == 50
    cfg = build_config(j, ["seed=5"])
    assert cfg.seed == 5 and cfg.decoder.options == {"normalize": "mean"}


def test_top_level_typo_names_file_key_and_close_match(tmp_path):
    y = tmp_path / "run.yaml"
    y.write_text("decodr: generate\n")
    with pytest.raises(ConfigError) as err:
        build_config(y)
    assert f"{y}: decodr: unknown key (did you mean 'decoder'?)" in str(err.value)
    assert err.value.exit_code == 2


def test_nested_typo_gives_the_key_path():
    with pytest.raises(ConfigError, match=r"splits\.test_sise: unknown key \(did you mean 'test_size'\?\)"):
        build_config({}, ["splits.test_sise=10"])


def test_component_option_typo_names_component_and_close_match(gencls_plugins):
    cfg = build_config({}, ["decoder.batch_sise=2"])
    with pytest.raises(ConfigError) as err:
        resolve(cfg, gencls_plugins)
    msg = str(err.value)
    assert "decoder 'perplexity'" in msg
    assert "decoder.batch_sise: unknown key (did you mean 'batch_size'?)" in msg


def test_component_option_bad_value_is_reported(gencls_plugins):
    with pytest.raises(ConfigError, match=r"decoder\.normalize: Input should be 'sum', 'mean' or 'char'"):
        resolve(build_config({}, ["decoder.normalize=median"]), gencls_plugins)


def test_unknown_component_name_suggests(gencls_plugins):
    with pytest.raises(ComponentNotFound, match="no decoder named 'perplexty' \\(did you mean 'perplexity'\\?\\)"):
        resolve(build_config({}, ["decoder=perplexty"]), gencls_plugins)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        build_config({}, ["decoder"])
    with pytest.raises(ConfigError, match=r"--set 'evaluators.3=f1': list assignment index out of range"):
        build_config({"evaluators": ["accuracy"]}, ["evaluators.3=f1"])
    with pytest.raises(ConfigError, match=r"--set 'seed.x=1': seed is not a mapping"):
        build_config({"seed": 1}, ["seed.x=1"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(tmp_path / "nope.yaml")


def test_inference_slots_default_to_training_and_can_differ(gencls_plugins):
    res = resolve(build_config({"prompt": {"name": "zero-shot", "system": "Be brief."}}), gencls_plugins)
    assert res.slots["inference_prompt"].options.system == "Be brief."
    res = resolve(build_config({"prompt": {"name": "zero-shot", "system": "Be brief."},
                                "inference_prompt": "zero-shot"}), gencls_plugins)
    assert res.slots["inference_prompt"].options.system is None


def test_single_third_party_candidate_fills_an_unnamed_slot(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="first", dist="gencls-plugin-first",
                        source=DECODER_PLUGIN.format(name="first-label"))
    res = resolve(build_config({"plugins": ["first"]}), load_plugins(["first"]))
    assert res.slots["decoder"].entry.name == "first-label"
    assert res.slots["decoder"].describe()["distribution"] == "gencls-plugin-first"


def test_two_third_party_candidates_without_a_name_is_an_error(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="one", dist="gencls-plugin-one",
                        source=DECODER_PLUGIN.format(name="one-label"))
    install_fake_plugin(tmp_path, monkeypatch, plugin="two", dist="gencls-plugin-two",
                        source=DECODER_PLUGIN.format(name="two-label"))
    plugins = load_plugins(["one", "two"])
    with pytest.raises(AmbiguousComponent, match="'one-label' from plugin 'one'.*'two-label' from plugin 'two'"):
        resolve(build_config(), plugins)
    assert resolve(build_config({}, ["decoder=two-label"]), plugins).slots["decoder"].entry.name == "two-label"

