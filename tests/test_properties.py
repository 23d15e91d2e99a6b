"""Property-based tests (Hypothesis): ``--set`` override parsing and every label scheme's answer parser."""

import json
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gencls_core.config import apply_overrides
from gencls_core.errors import ConfigError
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.labels.numeric import NumericLabels

KEYS = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.text(string.ascii_letters + " -_/", max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)


def _get(data, path):
    for part in path:
        data = data[part]
    return data


@given(path=st.lists(KEYS, min_size=1, max_size=4), value=VALUES,
       siblings=st.dictionaries(KEYS, st.integers(), max_size=3))
def test_an_override_puts_its_value_at_its_path_and_keeps_the_rest(path, value, siblings):
    assume(path[0] not in siblings)
    data = {**siblings}
    out = apply_overrides(data, [f"{'.'.join(path)}={json.dumps(value)}"])
    assert _get(out, path) == value
    assert {k: out[k] for k in siblings} == siblings and data == siblings  # the input is not modified


@given(path=st.lists(KEYS, min_size=1, max_size=3), name=KEYS, option=KEYS, value=st.integers())
def test_an_option_override_expands_a_name_shorthand(path, name, option, value):
    data = {}
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = name
    out = apply_overrides(data, [f"{'.'.join(path)}.{option}={value}"])
    expected = {"name": name, option: value} if option != "name" else {"name": value}
    assert _get(out, path) == expected


@given(st.text(string.ascii_lowercase + "._", min_size=1, max_size=12).filter(lambda s: "=" not in s))
def test_an_override_without_a_value_is_refused(item):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, [item])


WORD = st.from_regex(r"[a-z]{2,8}", fullmatch=True)
FILLER = st.lists(st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True), max_size=4)
SEPARATORS = st.sampled_from([" ", ", ", ". ", "! ", ": ", "\n"])


def _answer(parts, sep):
    return sep.join(p for p in parts if p)


@pytest.fixture(scope="module")
def plugins():
    from gencls_core.plugins import load_plugins

    return load_plugins()


def _scheme(kind, labels, plugins):
    """``names``, or ``uncertain`` wrapping ``names`` (its extra answer is one more label to parse)."""
    if kind == "names":
        scheme = NameLabels(NameLabels.Config())
    else:
        from gencls_core.interfaces import RunContext
        from gencls_core.services import RunServices
        from gencls_plugins.labels.uncertain import UncertainLabels

        scheme = UncertainLabels(UncertainLabels.Config())
        scheme.ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(plugins))
    scheme.setup(labels)
    return scheme


@pytest.mark.parametrize("kind", ["names", "uncertain"])
@settings(max_examples=150, deadline=None)
@given(labels=st.lists(WORD.filter(lambda w: w != "uncertain"), min_size=2, max_size=6, unique=True),
       data=st.data())
def test_names_parse_exactly_one_named_label(plugins, kind, labels, data):
    scheme = _scheme(kind, labels, plugins)
    labels = scheme.labels
    lowered = {w.lower() for w in labels}
    filler = data.draw(FILLER.map(lambda ws: [w for w in ws if w.lower() not in lowered and
                                              w.lower() not in ("answer", "final")]))
    sep = data.draw(SEPARATORS)
    one = data.draw(st.sampled_from(labels))
    cut = data.draw(st.integers(0, len(filler)))
    assert scheme.parse(_answer([*filler[:cut], one, *filler[cut:]], sep)) == one
    assert scheme.parse(_answer([*filler[:cut], one.upper(), *filler[cut:]], sep)) == one
    two = data.draw(st.lists(st.sampled_from(labels), min_size=2, max_size=2, unique=True))
    assert scheme.parse(_answer([*filler[:cut], two[0], "or", two[1], *filler[cut:]], sep)) is None
    assert scheme.parse(_answer(filler, sep)) is None


@settings(max_examples=200, deadline=None)
@given(k=st.integers(2, 12), start=st.integers(0, 5), shuffle=st.booleans(), seed=st.integers(0, 100),
       data=st.data())
def test_numeric_labels_parse_exactly_one_named_number(k, start, shuffle, seed, data):
    labels = [f"class{i}" for i in range(k)]
    scheme = NumericLabels(NumericLabels.Config(start=start, shuffle=shuffle, seed=seed))
    scheme.setup(labels)
    filler = data.draw(st.lists(st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True), max_size=3))
    filler = [w for w in filler if w.lower() not in ("answer", "final")]
    sep = data.draw(SEPARATORS.filter(lambda s: s != ". "))
    one = data.draw(st.sampled_from(labels))
    cut = data.draw(st.integers(0, len(filler)))
    assert scheme.parse(_answer([*filler[:cut], scheme.verbalize(one), *filler[cut:]], sep)) == one
    two = data.draw(st.lists(st.sampled_from(labels), min_size=2, max_size=2, unique=True))
    assert scheme.parse(_answer([scheme.verbalize(two[0]), "or", scheme.verbalize(two[1])], sep)) is None
    assert scheme.parse(_answer(filler, sep)) is None
    assert scheme.parse(f"{scheme.verbalize(one)}.5") is None  # "3.5" names no label
