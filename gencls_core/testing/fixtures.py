"""pytest fixtures for gencls and plugin tests: ``pytest_plugins = ["gencls_core.testing.fixtures"]``."""

from __future__ import annotations

import pytest

from gencls_core.testing.tiny import make_tiny_model, write_tiny_csv


@pytest.fixture
def gencls_plugins():
    """A fresh plugin manager with the built-in plugins loaded from their real entry points."""
    from gencls_core.plugins import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder holding a tiny random Llama model and tokenizer (built once per test session)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny_csv(tmp_path):
    """A 40-row positive/negative CSV (text, label)."""
    return write_tiny_csv(tmp_path / "tiny.csv")


@pytest.fixture
def tiny_run_config(tiny_model_dir, tiny_csv, tmp_path):
    """A RunConfig dict for a seconds-long run of the tiny model on the tiny CSV."""
    return {
        "output_dir": str(tmp_path / "runs"),
        "progress": False,
        "model": {"name": "hf", "path": str(tiny_model_dir)},
        "dataset": {"name": "local", "path": str(tiny_csv), "task": "Classify the sentiment of the text."},
        "splits": {"test_size": 10},
    }


@pytest.fixture
def gencls_ctx(gencls_plugins, tmp_path):
    """A CPU RunContext for calling components directly."""
    from gencls_core.interfaces import RunContext
    from gencls_core.services import RunServices

    return RunContext(seed=0, device="cpu", run_dir=tmp_path, services=RunServices(gencls_plugins), progress=False)
