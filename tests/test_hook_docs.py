"""datasette's rule: every hook is documented with its exact signature, and every hook has a test."""

import inspect
import re
from pathlib import Path

import pytest

from gencls_core import hookspecs

ROOT = Path(__file__).parent.parent
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("gencls_") and inspect.isfunction(f))
DOCS = (ROOT / "docs" / "plugins.md").read_text()


def test_there_are_hooks():
    assert len(HOOKS) == 14


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_exact_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"### {hook}\n```python\ndef {hook}({params})\n```" in DOCS


def test_docs_name_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^### (gencls_\w+)$", DOCS, re.MULTILINE))
    assert documented == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    name = f"test_hook_{hook.removeprefix('gencls_')}"
    tested = [p for p in (ROOT / "tests").glob("test_*.py") if re.search(rf"^def {name}\(", p.read_text(), re.M)]
    assert tested, f"no test function {name} in tests/"
