"""The plugin authors' contract kit catches each bad case."""

import pytest

from gencls_core import Decoder, Evaluator, Options, Prediction, PromptStrategy
from gencls_core.errors import ContractError
from gencls_core.testing import (
    check_component,
    check_decoder,
    check_evaluator,
    check_label_scheme,
    check_prompt_strategy,
    check_reward_func,
)
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.prompts.zero_shot import ZeroShot
from tests.test_data import _pool


class _NoConfig(Decoder):
    name = "no-config"
    Config = None


class _LooseConfig(Decoder):
    name = "loose-config"

    class Config(Options):
        model_config = {"extra": "allow"}


class _BadName(Decoder):
    name = "Bad_Name"


@pytest.mark.parametrize("component, problem", [
    (_NoConfig, "Config must be a pydantic BaseModel"), (_LooseConfig, "must forbid unknown keys"),
    (_BadName, "kebab-case name"), (ZeroShot, "not a subclass of gencls_core.interfaces.Decoder"),
])
def test_component_shape_problems(component, problem):
    with pytest.raises(ContractError, match=problem):
        check_component("decoder", component)


def test_builtins_pass_the_component_check():
    check_component("prompt_strategy", ZeroShot)
    check_component("label_scheme", NameLabels)


def test_reward_of_wrong_length_or_type():
    with pytest.raises(ContractError, match="returned 1 rewards for 2 completions"):
        check_reward_func(lambda prompts, completions, **kw: [1.0], ["a", "b"], ["x", "y"], label=["p", "q"])
    with pytest.raises(ContractError, match=r"returned 'yes' \(str\) at position 1"):
        check_reward_func(lambda prompts, completions, **kw: [1.0, "yes"], ["a", "b"], ["x", "y"])
    assert check_reward_func(lambda prompts, completions, label: [None, 0.5], ["a", "b"], ["x", "y"],
                             label=["p", "q"]) == [None, 0.5]


class _ForgetsText(PromptStrategy):
    name = "forgets-text"

    def messages(self, text):
        return [{"role": "user", "content": "Classify."}]


class _AssistantLast(PromptStrategy):
    name = "assistant-last"

    def messages(self, text):
        return [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]


def test_prompt_strategy_problems():
    data = _pool(3, 3)
    with pytest.raises(ContractError, match="input text does not appear"):
        check_prompt_strategy(_ForgetsText(), data, NameLabels())
    with pytest.raises(ContractError, match="last message must be the user's"):
        check_prompt_strategy(_AssistantLast(), data, NameLabels())
    assert len(check_prompt_strategy(ZeroShot(), data, NameLabels())) == 3


def test_label_scheme_round_trip_problems():
    class ParsesWrong(NameLabels):
        def find(self, output):
            return [self.labels[0]]

    with pytest.raises(ContractError, match="the answer 'b' parses to 'a', not 'b'"):
        check_label_scheme(ParsesWrong(), ["a", "b"])
    assert check_label_scheme(NameLabels(), ["a", "b"]) == {"a": "a", "b": "b"}


def test_decoder_and_evaluator_problems(gencls_ctx):
    labels = NameLabels()
    labels.setup(["a", "b"])

    class Inventive(Decoder):
        name = "inventive"

        def decode(self, lm, prompts, labels, ctx):
            return [Prediction("c") for _ in prompts]

    class Listy(Evaluator):
        name = "listy"

        def evaluate(self, gold, predictions, labels):
            return [0.5]

    with pytest.raises(ContractError, match="predicted unknown label 'c'"):
        check_decoder(Inventive(), None, ["p"], labels, gencls_ctx)
    with pytest.raises(ContractError, match="returned list, expected a dict of metrics"):
        check_evaluator(Listy(), ["a"], [Prediction("a")], ["a", "b"])
