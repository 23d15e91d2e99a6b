"""Every hook a gencls plugin can implement.

Register hooks receive ``register(component, *, name=None)``; call it once per component.
Hooks are called one plugin at a time, so each component remembers which plugin gave it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from gencls_core.interfaces import CommandServices, Register, RunContext
    from gencls_core.results import RunResult

hookspec = pluggy.HookspecMarker("gencls")
hookimpl = pluggy.HookimplMarker("gencls")


@hookspec
def gencls_register_model_sources(register: Register) -> None:
    """Register ModelSource classes: where a causal LM and its tokenizer come from."""


@hookspec
def gencls_register_datasets(register: Register) -> None:
    """Register DatasetSource classes: labelled text to train and evaluate on."""


@hookspec
def gencls_register_label_schemes(register: Register) -> None:
    """Register LabelScheme classes: how a class is written in the model's answer, and parsed back."""


@hookspec
def gencls_register_prompt_strategies(register: Register) -> None:
    """Register PromptStrategy classes: how an input becomes chat messages."""


@hookspec
def gencls_register_decoders(register: Register) -> None:
    """Register Decoder classes: how the model's answer becomes a label."""


@hookspec
def gencls_register_reward_funcs(register: Register) -> None:
    """Register RewardFunc classes following TRL's contract ``fn(prompts, completions, **kwargs)``."""


@hookspec
def gencls_register_trainers(register: Register) -> None:
    """Register Trainer classes: training stages run in order before evaluation."""


@hookspec
def gencls_register_evaluators(register: Register) -> None:
    """Register Evaluator classes: metrics computed from gold labels and predictions."""


@hookspec
def gencls_register_recipes(register: Register) -> None:
    """Register Recipe classes: which training stages a run gets for its data, and which of them it keeps."""


@hookspec
def gencls_default_components() -> dict[str, str | list[str]]:
    """Config slot -> the component name that fills it when the config names none (``rewards`` and
    ``evaluators``: a list of names). Two plugins may not default the same slot."""


@hookspec
def gencls_default_training() -> dict[str, Any]:
    """The training part of a run config (``trainers``, ``recipe``) that an entry point which always trains (the
    scikit-learn estimator) uses when it is given none. Two plugins may not give different ones."""


@hookspec
def gencls_register_commands(cli: click.Group, app: CommandServices) -> None:
    """Add sub-commands to the ``gencls`` click group ``cli``; ``app`` gives them what they may use of the
    engine (an implementation may leave ``app`` out of its parameters)."""


@hookspec
def gencls_trainer_callbacks(ctx: RunContext) -> list[Any]:
    """Return ``transformers.TrainerCallback`` instances for the training stage described by ``ctx``."""


@hookspec
def gencls_run_finished(result: RunResult) -> None:
    """Called with the RunResult once a run has written its results."""
