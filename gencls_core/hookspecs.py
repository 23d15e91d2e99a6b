"""Every hook a gencls plugin can implement.

Register hooks receive ``register(component, *, name=None)``; call it once per component.
Hooks are called one plugin at a time, so each component remembers which plugin gave it.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("gencls")
hookimpl = pluggy.HookimplMarker("gencls")


@hookspec
def gencls_register_model_sources(register: Any) -> None:
    """Register ModelSource classes: where a causal LM and its tokenizer come from."""


@hookspec
def gencls_register_datasets(register: Any) -> None:
    """Register DatasetSource classes: labelled text to train and evaluate on."""


@hookspec
def gencls_register_label_schemes(register: Any) -> None:
    """Register LabelScheme classes: how a class is written in the model's answer, and parsed back."""


@hookspec
def gencls_register_prompt_strategies(register: Any) -> None:
    """Register PromptStrategy classes: how an input becomes chat messages."""


@hookspec
def gencls_register_decoders(register: Any) -> None:
    """Register Decoder classes: how the model's answer becomes a label."""


@hookspec
def gencls_register_reward_funcs(register: Any) -> None:
    """Register RewardFunc classes following TRL's contract ``fn(prompts, completions, **kwargs)``."""


@hookspec
def gencls_register_trainers(register: Any) -> None:
    """Register Trainer classes: training stages run in order before evaluation."""


@hookspec
def gencls_register_evaluators(register: Any) -> None:
    """Register Evaluator classes: metrics computed from gold labels and predictions."""


@hookspec
def gencls_register_commands(cli: Any) -> None:
    """Add sub-commands to the ``gencls`` click group ``cli``."""


@hookspec
def gencls_trainer_callbacks(ctx: Any) -> list[Any]:
    """Return ``transformers.TrainerCallback`` instances for the trainer described by ``ctx``."""


@hookspec
def gencls_run_finished(result: Any) -> None:
    """Called with the RunResult once a run has written its results."""
