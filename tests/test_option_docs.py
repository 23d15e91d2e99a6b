"""The option tables in docs/ are generated from the registry (each component's Config): docs/options.md is the
whole catalogue of built-in components, the blocks in other docs are fresh, and every option says what it does."""

import re
from pathlib import Path

import pytest

from gencls_core.optiondocs import catalogue, refresh
from gencls_core.plugins import load_plugins

DOCS = Path(__file__).parent.parent / "docs"
REGISTRY = load_plugins().registry
BUILTIN = [e for e in REGISTRY.entries() if e.plugin.builtin]
STALE = "stale: run `gencls plugins docs`"


def test_the_options_catalogue_is_generated_from_the_registry():
    text = (DOCS / "options.md").read_text()
    assert text == catalogue(REGISTRY), STALE
    for entry in BUILTIN:
        assert f"### `{entry.name}`" in text


@pytest.mark.parametrize("doc", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_generated_option_tables_are_fresh(doc):
    text = doc.read_text()
    assert refresh(text, REGISTRY) == text, STALE


@pytest.mark.parametrize("entry", BUILTIN, ids=lambda e: f"{e.kind}-{e.name}")
def test_every_option_says_what_it_does(entry):
    missing = [n for n, f in entry.component.Config.model_fields.items() if not (f.description or "").strip()]
    assert not missing, f"{entry.kind} {entry.name}: options without a description: {missing}"


def test_a_stale_table_is_detected():
    text = (DOCS / "training.md").read_text()
    stale = re.sub(r"(\| `learning_rate` \| )[^|]+", r"\g<1>0.5 ", text, count=1)
    assert stale != text and refresh(stale, REGISTRY) == text
