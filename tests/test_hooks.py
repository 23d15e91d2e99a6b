"""Each hook, called through pluggy exactly as gencls calls it."""

import pytest

from gencls_core import (
    DatasetSource,
    Decoder,
    Evaluator,
    LabelScheme,
    ModelSource,
    PromptStrategy,
    RewardFunc,
    Trainer,
    hookimpl,
)
from gencls_core.callbacks import trainer_callbacks
from gencls_core.context import RunContext
from gencls_core.errors import ContractError
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo

REGISTER_HOOKS = [
    ("gencls_register_model_sources", "model_source", ModelSource),
    ("gencls_register_datasets", "dataset", DatasetSource),
    ("gencls_register_label_schemes", "label_scheme", LabelScheme),
    ("gencls_register_prompt_strategies", "prompt_strategy", PromptStrategy),
    ("gencls_register_decoders", "decoder", Decoder),
    ("gencls_register_reward_funcs", "reward_func", RewardFunc),
    ("gencls_register_trainers", "trainer", Trainer),
    ("gencls_register_evaluators", "evaluator", Evaluator),
]


def _plugin(hook_name, body):
    """A plugin object whose only hook is ``hook_name`` (pluggy reads the method's argument names)."""
    return type("Plugin", (), {hook_name: hookimpl(body)})()


@pytest.mark.parametrize("hook_name, kind, base", REGISTER_HOOKS)
def test_register_hook_adds_a_component_of_its_kind(hook_name, kind, base):
    component = type("Custom", (base,), {"name": "custom-one", "__doc__": "A custom component."})

    def body(self, register):
        register(component)
        register(component, name="custom-two")

    plugins = load_plugins(modules=[(PluginInfo("mine", "x", "my-dist", "2.0"), _plugin(hook_name, body))])
    for name in ("custom-one", "custom-two"):
        entry = plugins.registry.get(kind, name)
        assert entry.component is component and entry.plugin.distribution == "my-dist"


def test_gencls_trainer_callbacks_are_collected_and_checked():
    from transformers import TrainerCallback

    good = TrainerCallback()
    plugins = load_plugins(modules=[
        (PluginInfo("cb", "x", "cb-dist", "1"), _plugin("gencls_trainer_callbacks", lambda self, ctx: [good]))])
    ctx = RunContext(seed=0, device="cpu", run_dir=None, plugins=plugins)
    assert trainer_callbacks(ctx) == [good]
    bad = load_plugins(modules=[
        (PluginInfo("bad", "x", "bad-dist", "1"), _plugin("gencls_trainer_callbacks", lambda self, ctx: ["x"]))])
    with pytest.raises(ContractError, match="plugin 'bad' returned 'x' from gencls_trainer_callbacks"):
        trainer_callbacks(RunContext(seed=0, device="cpu", run_dir=None, plugins=bad))
