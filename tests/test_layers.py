"""The layering a newcomer can rely on: the contract module is a leaf, the package imports lazily."""

import subprocess
import sys


def _gencls_modules_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(m for m in sys.modules if m.startswith('gencls'))))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_the_contract_module_imports_nothing_else_of_gencls():
    assert _gencls_modules_after("import gencls_core.interfaces") == ["gencls_core", "gencls_core.interfaces"]


def test_the_package_names_load_on_first_use():
    loaded = _gencls_modules_after("from gencls_core import Prediction, hookimpl")
    assert "gencls_core.engine" not in loaded and "gencls_core.hookspecs" in loaded
    assert "gencls_core.engine" in _gencls_modules_after("from gencls_core import Engine")
