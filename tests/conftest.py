import pytest

pytest_plugins = ["gencls_core.testing.fixtures"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own gencls cache and no plugins from the environment."""
    monkeypatch.setenv("GENCLS_CACHE", str(tmp_path / "gencls-cache"))
    monkeypatch.delenv("GENCLS_PLUGINS", raising=False)


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only this folder as its package index (for wheels made with tests.fakedist.build_wheel)."""
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    return index


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where no CUDA GPU is visible."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
