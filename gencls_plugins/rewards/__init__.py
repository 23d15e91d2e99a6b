"""Built-in rule-based rewards in TRL's contract: label match and answer format."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.rewards.answer_format import AnswerFormat
from gencls_plugins.rewards.label_match import LabelMatch


@hookimpl
def gencls_register_reward_funcs(register):
    register(LabelMatch)
    register(AnswerFormat)


@hookimpl
def gencls_default_components():
    return {"rewards": ["label-match"]}
