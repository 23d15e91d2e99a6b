"""What ``pip install .`` ships: setuptools finds the packages by their ``__init__.py``, so a source folder
without one would install without its modules (an editable install would hide that)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_folder_is_a_package():
    folders = {p.parent for top in ("gencls_core", "gencls_plugins") for p in (ROOT / top).rglob("*.py")}
    assert folders and not [f for f in folders if not (f / "__init__.py").is_file()]
