"""Contract checks for plugin authors: run a component the way the engine does, fail with what is wrong.

Each ``check_*`` raises ``ContractError`` (or the engine's own error) naming the component, and returns
what the component produced so a test can assert more.
"""

from __future__ import annotations

from typing import Any

from gencls_core.contracts import check_messages, check_metrics, check_predictions, check_rewards
from gencls_core.data import check_labeled_data
from gencls_core.errors import ContractError
from gencls_core.interfaces import KINDS, Component, LabeledData, LabelScheme, Prediction
from gencls_core.registry import PluginInfo, Registry


def _who(component: Any) -> str:
    return f"{type(component).__name__} {getattr(component, 'name', '')!r}"


def check_component(kind: str, component: type[Component]) -> None:
    """The class is registrable as ``kind``: right base class, kebab-case name, strict pydantic Config."""
    if kind not in KINDS:
        raise ContractError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    try:
        Registry().add(kind, component, PluginInfo("under-test", "", "under-test", "0"))
    except TypeError as err:
        raise ContractError(f"{kind} {component!r}: {err}") from err


def check_reward_func(reward: Any, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
    """Call the reward as TRL would (dataset columns as keyword arguments) and check what comes back."""
    return check_rewards(_who(reward), reward(prompts=prompts, completions=completions, **columns), len(completions))


def check_prompt_strategy(strategy: Any, data: LabeledData, labels: LabelScheme,
                          texts: list[str] | None = None) -> list[list[dict[str, str]]]:
    """Set the strategy up on ``data`` and check the messages it builds for each text."""
    labels.setup(data.labels)
    strategy.setup(data, labels)
    texts = texts or list(data.splits["train"]["text"][:3])
    return [check_messages(_who(strategy), strategy.messages(t), t) for t in texts]


def check_dataset(source: Any, ctx: Any) -> LabeledData:
    """Load the dataset and check its splits, columns and labels."""
    data = source.load(ctx)
    if not isinstance(data, LabeledData):
        raise ContractError(f"{_who(source)}.load returned {type(data).__name__}, expected LabeledData")
    check_labeled_data(data, _who(source))
    return data


def check_label_scheme(scheme: LabelScheme, labels: list[str]) -> dict[str, str]:
    """Every class has a distinct answer, and each answer parses back to its class."""
    scheme.setup(labels)
    answers = scheme.answers()
    if sorted(answers) != sorted(labels) or len(set(answers.values())) != len(labels):
        raise ContractError(f"{_who(scheme)}: answers {answers} must give each of {labels} a distinct text")
    for label, text in answers.items():
        if scheme.parse(text) != label:
            raise ContractError(f"{_who(scheme)}: the answer {text!r} parses to {scheme.parse(text)!r}, not {label!r}")
    return answers


def check_decoder(decoder: Any, lm: Any, prompts: list[str], labels: LabelScheme, ctx: Any) -> list[Prediction]:
    """One Prediction per prompt, labels from the label set."""
    return check_predictions(_who(decoder), decoder.decode(lm, prompts, labels, ctx), len(prompts), labels.labels)


def check_evaluator(evaluator: Any, gold: list[str], predictions: list[Prediction],
                    labels: list[str]) -> dict[str, Any]:
    """A dict of metrics."""
    return check_metrics(_who(evaluator), evaluator.evaluate(gold, predictions, labels))
