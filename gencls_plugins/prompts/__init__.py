"""Built-in prompt strategies: zero-shot and few-shot (random, fixed, similar), with optional category
definitions and think-then-answer reasoning; and the ``gencls define`` command."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.prompts.define import register_define
from gencls_plugins.prompts.few_shot import FewShot
from gencls_plugins.prompts.zero_shot import ZeroShot


@hookimpl
def gencls_register_prompt_strategies(register):
    register(ZeroShot)
    register(FewShot)


@hookimpl
def gencls_register_commands(cli, app):
    register_define(cli, app)


@hookimpl
def gencls_default_components():
    return {"prompt": "zero-shot"}
