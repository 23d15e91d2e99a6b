"""docs/training.md and docs/strategies.md list every option of the built-in trainers, rewards, prompt
strategies and label schemes (trainers with their real defaults)."""

import re
from pathlib import Path

import pytest

from gencls_plugins.labels.numeric import NumericLabels
from gencls_plugins.labels.uncertain import UncertainLabels
from gencls_plugins.prompts.few_shot import FewShot
from gencls_plugins.rewards.answer_format import AnswerFormat
from gencls_plugins.rewards.label_match import LabelMatch
from gencls_plugins.trainers.grpo import GRPO
from gencls_plugins.trainers.gta import GTA
from gencls_plugins.trainers.ppo import PPO
from gencls_plugins.trainers.sft import SFT

DOCS = Path(__file__).parent.parent / "docs"
DOC = (DOCS / "training.md").read_text()


def _table_rows(section):
    body = DOC.split(f"## `{section}`", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", body, re.M)}


def _matches(cell, default):
    """The documented cell starts with the default (numbers compared as numbers)."""
    first = cell.split()[0] if cell else ""
    if default is None or isinstance(default, bool):
        return first == {None: "null", True: "true", False: "false"}[default]
    if isinstance(default, (int, float)):
        return float(first) == default
    return first == default


@pytest.mark.parametrize("component", [SFT, GRPO])
def test_every_trainer_option_is_documented_with_its_default(component):
    rows = {**_table_rows("sft"), **(_table_rows("grpo") if component is GRPO else {})}
    for name, field in component.Config.model_fields.items():
        assert name in rows, f"{component.name}.{name} missing from docs/training.md"
        default = field.get_default(call_default_factory=True)
        if isinstance(default, (int, float, str, bool)) or default is None:
            assert _matches(rows[name], default), (component.name, name, rows[name], default)


@pytest.mark.parametrize("component", [LabelMatch, AnswerFormat])
def test_every_reward_option_is_documented(component):
    line = next(x for x in DOC.splitlines() if x.startswith(f"| `{component.name}` |"))
    for name in component.Config.model_fields:
        assert f"`{name}`" in line, f"reward {component.name}: option {name} missing from docs/training.md"


@pytest.mark.parametrize("component", [FewShot, NumericLabels, UncertainLabels])
def test_every_strategy_option_is_documented(component):
    text = (DOCS / "strategies.md").read_text()
    for name in component.Config.model_fields:
        assert f"`{name}`" in text, f"{component.name}: option {name} missing from docs/strategies.md"


@pytest.mark.parametrize("component", [PPO, GTA])
def test_every_rl_loop_option_is_documented_with_its_default(component):
    rows = _table_rows(component.name)
    for name, field in component.Config.model_fields.items():
        assert name in rows, f"{component.name}.{name} missing from docs/training.md"
        default = field.get_default(call_default_factory=True)
        if isinstance(default, (int, float, str, bool)) or default is None:
            assert _matches(rows[name], default), (component.name, name, rows[name], default)


def test_every_rationale_option_is_documented():
    from gencls_plugins.trainers.rationales import RationaleOptions

    rows = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", DOC.split(
        "| `rationales` option |", 1)[1].split("\n\n", 1)[0], re.M)}
    assert set(rows) == set(RationaleOptions.model_fields)
    for name in ("source", "max_new_tokens", "batch_size"):
        assert _matches(rows[name], RationaleOptions.model_fields[name].default), name
