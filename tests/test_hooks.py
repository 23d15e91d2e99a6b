"""One ``test_hook_<name>`` per hook (datasette's rule, checked by test_hook_docs.py), each calling the hook
through pluggy exactly as gencls calls it."""

import pytest
import yaml

from gencls_core import Engine, hookimpl
from gencls_core.errors import ContractError, PluginLoadError
from gencls_core.interfaces import KINDS, RunContext
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_core.services import RunServices


def _plugin(hook_name, body):
    """A plugin object whose only hook is ``hook_name`` (pluggy reads the method's argument names)."""
    return type("Plugin", (), {hook_name: hookimpl(body)})()


def _load(name, hook_name, body, *names):
    return load_plugins(names, modules=[(PluginInfo(name, "x", f"{name}-dist", "2.0"), _plugin(hook_name, body))])


def _registers(kind):
    """The kind's register hook adds a (concrete) component of the kind under its own name and under another."""
    hook_name, base = KINDS[kind]
    methods = {m: lambda self, *args, **kwargs: None for m in base.__abstractmethods__}
    component = type("Custom", (base,), {"name": "custom-one", "__doc__": "A custom component.", **methods})

    def body(self, register):
        register(component)
        register(component, name="custom-two")

    plugins = _load("mine", hook_name, body)
    for name in ("custom-one", "custom-two"):
        entry = plugins.registry.get(kind, name)
        assert entry.component is component and entry.plugin.distribution == "mine-dist"


def test_hook_register_model_sources():
    _registers("model_source")


def test_hook_register_datasets():
    _registers("dataset")


def test_hook_register_label_schemes():
    _registers("label_scheme")


def test_hook_register_prompt_strategies():
    _registers("prompt_strategy")


def test_hook_register_decoders():
    _registers("decoder")


def test_hook_register_reward_funcs():
    _registers("reward_func")


def test_hook_register_trainers():
    _registers("trainer")


def test_hook_register_evaluators():
    _registers("evaluator")


def test_hook_register_recipes():
    _registers("recipe")


def test_hook_default_components():
    plugins = _load("defaults", "gencls_default_components", lambda self: {"decoder": "generate"}, "no:decoders")
    assert plugins.defaults()["decoder"] == "generate" and "decoders" not in [p.name for p in plugins.loaded]
    with pytest.raises(Exception, match="no decoder named 'generate'"):  # left out with the decoders plugin
        Engine({}, plugins=plugins)
    plugins = _load("defaults", "gencls_default_components", lambda self: {"evaluators": ["accuracy"]})
    with pytest.raises(PluginLoadError, match="plugins 'evaluators' and 'defaults' both set the default evaluators"):
        Engine({}, plugins=plugins)
    plugins = _load("defaults", "gencls_default_components", lambda self: {"evaluators": ["accuracy"]},
                    "no:evaluators")
    with pytest.raises(Exception, match="no evaluator named 'accuracy'"):
        Engine({}, plugins=plugins)
    plugins = _load("defaults", "gencls_default_components", lambda self: {"decoders": "generate"})
    with pytest.raises(PluginLoadError, match="gave decoders: 'generate'; expected one of model, dataset"):
        Engine({}, plugins=plugins)


def test_hook_default_training():
    assert load_plugins().default_training() == {"trainers": [{"name": "sft"}]}  # the built-in trainers plugin's
    plugins = _load("mine", "gencls_default_training", lambda self: {"recipe": "auto"}, "no:trainers")
    assert plugins.default_training() == {"recipe": "auto"}
    with pytest.raises(PluginLoadError, match="plugins 'trainers' and 'mine' both set the default training"):
        _load("mine", "gencls_default_training", lambda self: {"recipe": "auto"}).default_training()
    with pytest.raises(PluginLoadError, match="plugin 'odd' gave gencls_default_training .*trainers and/or recipe"):
        _load("odd", "gencls_default_training", lambda self: {"decoder": "generate"}, "no:trainers").default_training()
    with pytest.raises(PluginLoadError, match="no plugin gives a default training"):
        load_plugins(["no:trainers"]).default_training()


def test_hook_register_commands(tmp_path, tiny_run_config):
    import click
    from click.testing import CliRunner

    from gencls_core.cli import _App

    def body(self, cli, app):
        @cli.command()
        @click.argument("config")
        def classes(config):
            """Print the run's classes and its model's source."""
            ctx = app.loaded_context(config, ["splits.test_size=4"])
            print(",".join(ctx.data.labels), ctx.lm.ref == str(tiny_run_config["model"]["path"]))

    group = click.Group()
    _load("cmds", "gencls_register_commands", body).hook.gencls_register_commands(cli=group, app=_App())
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_run_config))
    out = CliRunner().invoke(group, ["classes", str(config)])
    assert out.exit_code == 0, out.output
    assert out.output.rstrip().endswith("negative,positive True")


def test_hook_trainer_callbacks():
    from transformers import TrainerCallback

    good = TrainerCallback()
    plugins = _load("cb", "gencls_trainer_callbacks", lambda self, ctx: [good])
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(plugins))
    assert ctx.trainer_callbacks() == [good]
    bad = _load("bad", "gencls_trainer_callbacks", lambda self, ctx: ["x"])
    with pytest.raises(ContractError, match="plugin 'bad' returned 'x' from gencls_trainer_callbacks"):
        RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(bad)).trainer_callbacks()


def test_hook_run_finished(tiny_run_config):
    seen = []
    plugins = _load("listener", "gencls_run_finished", lambda self, result: seen.append(result))
    result = Engine(tiny_run_config, plugins=plugins).run()
    assert seen == [result]
