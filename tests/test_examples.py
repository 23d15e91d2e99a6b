"""The examples run, on the tiny model and dataset instead of SmolLM2 and the bundled corpora."""

import runpy
import sys
from pathlib import Path

import pytest

from gencls_core import Engine

EXAMPLES = Path(__file__).parent.parent / "examples"


def _tiny_overrides(tiny_run_config):
    return [f"output_dir={tiny_run_config['output_dir']}", "progress=false",
            f"model={{name: hf, path: {tiny_run_config['model']['path']}}}",
            f"dataset={{name: local, path: {tiny_run_config['dataset']['path']}}}", "splits.test_size=10"]


@pytest.mark.parametrize("config", ["zero-shot.yaml", "local-csv.yaml"])
def test_example_config_runs(config, tiny_run_config):
    result = Engine(EXAMPLES / config, overrides=_tiny_overrides(tiny_run_config)).run()
    assert result.metrics["n"] == 10 and (result.run_dir / "report.md").is_file()


def test_api_example_runs(tiny_run_config, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["api.py", *_tiny_overrides(tiny_run_config)])
    runpy.run_path(str(EXAMPLES / "api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "'n': 10" in out and "A joyous, moving film." in out
