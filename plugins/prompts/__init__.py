"""Prompt strategies: how an input becomes chat messages."""

from gencls_core import hookimpl
from gencls_plugins.prompts.zero_shot import ZeroShot


@hookimpl
def gencls_register_prompt_strategies(register):
    register(ZeroShot)
