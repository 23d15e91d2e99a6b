"""The examples run, on the tiny model and dataset instead of SmolLM2 and the bundled corpora."""

import runpy
import sys
from pathlib import Path

import pytest

from gencls_core import Engine
from gencls_core.config import build_config

EXAMPLES = Path(__file__).parent.parent / "examples"


def _tiny_overrides(tiny_run_config):
    return [f"output_dir={tiny_run_config['output_dir']}", "progress=false",
            f"model={{name: hf, path: {tiny_run_config['model']['path']}}}",
            f"dataset={{name: local, path: {tiny_run_config['dataset']['path']}}}", "splits.test_size=10"]


@pytest.mark.parametrize("config", ["zero-shot.yaml", "local-csv.yaml"])
def test_example_config_runs(config, tiny_run_config):
    result = Engine(EXAMPLES / config, overrides=_tiny_overrides(tiny_run_config)).run()
    assert result.metrics["n"] == 10 and (result.run_dir / "report.md").is_file()


# a few steps instead of the examples' real training lengths
SHORT = {"sft.yaml": ["trainers.0.max_steps=2"], "sft-grpo.yaml": ["trainers.0.max_steps=2", "trainers.1.max_steps=1"]}


@pytest.mark.parametrize("config", sorted(SHORT))
def test_example_training_config_runs(config, tiny_run_config):
    overrides = [*_tiny_overrides(tiny_run_config), "splits.train_size=null", *SHORT[config]]
    if config == "sft.yaml":
        overrides.append("splits.validation_size=4")
    result = Engine(EXAMPLES / config, overrides=overrides).run()
    trainers = [t.name for t in build_config(EXAMPLES / config).trainers]
    assert [s["trainer"] for s in result.stages] == [None, *trainers]
    assert all(s["train_steps"] == int(o.split("=")[1]) for s, o in zip(result.stages[1:], SHORT[config]))
    assert (result.run_dir / "stages").is_dir() and result.metrics["n"] == 10


def test_the_first_run_is_the_auto_recipe_beside_the_simple_baseline(tiny_run_config):
    overrides = [*_tiny_overrides(tiny_run_config), "splits.train_size=16", "splits.validation_size=8",
                 "recipe.sft_epochs=1"]
    result = Engine(EXAMPLES / "first-run.yaml", overrides=overrides).run()
    assert [s["trainer"] for s in result.stages] == [None, "sft", "label-pg"]
    assert all("kept" in s for s in result.stages[1:]) and "baseline" in result.metrics
    assert "TF-IDF + logistic regression on the same splits" in (result.run_dir / "report.md").read_text()


def test_api_example_runs(tiny_run_config, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["api.py", *_tiny_overrides(tiny_run_config)])
    runpy.run_path(str(EXAMPLES / "api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "'n': 10" in out and "A joyous, moving film." in out
