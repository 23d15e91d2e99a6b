"""Filling a run's slots with registered components and validating each component's options.

A slot is filled by the name given in the config; otherwise by the single candidate the named
(third-party) plugins offer; otherwise by the built-in default. Two candidates and no name is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, overload

from pydantic import BaseModel, ValidationError

from gencls_core.config import RewardSpec, RunConfig, format_validation_error
from gencls_core.errors import AmbiguousComponent, ConfigError, ContractError, PluginLoadError
from gencls_core.interfaces import C, Component, ComponentSpec
from gencls_core.plugins import Plugins
from gencls_core.registry import Entry

# config field -> component kind
SLOT_KINDS = {
    "model": "model_source",
    "dataset": "dataset",
    "labels": "label_scheme",
    "prompt": "prompt_strategy",
    "inference_labels": "label_scheme",
    "inference_prompt": "prompt_strategy",
    "decoder": "decoder",
    "trainers": "trainer",
    "rewards": "reward_func",
    "evaluators": "evaluator",
}
LIST_SLOTS = ("trainers", "rewards", "evaluators")
# inference slots default to their training twin
INFERENCE_TWINS = {"inference_labels": "labels", "inference_prompt": "prompt"}


@dataclass
class Slot:
    """One filled slot: where it sits in the config, the registered component and its validated options."""

    path: str
    entry: Entry
    options: BaseModel

    @overload
    def build(self) -> Component: ...
    @overload
    def build(self, kind: type[C]) -> C: ...

    def build(self, kind: type[Component] = Component) -> Component:
        """A new instance of the slot's component, checked to be a ``kind`` (a base class of interfaces)."""
        return self.component(kind)(self.options)

    weight: float | None = None  # rewards only

    def component(self, kind: type[C]) -> type[C]:
        """The slot's component class, checked to be a ``kind`` (for its class attributes)."""
        if not issubclass(self.entry.component, kind):
            raise ContractError(f"{self.who()} is not a {kind.__name__}")
        return self.entry.component

    def spec(self) -> dict[str, Any]:
        weight = {} if self.weight is None else {"weight": self.weight}
        return {"name": self.entry.name, **weight, **self.options.model_dump(mode="json")}

    def who(self) -> str:
        """How errors name this component: kind, name, plugin and distribution."""
        return f"{self.entry.kind} {self.entry.name!r} ({self.entry.plugin.describe()})"

    def describe(self) -> dict[str, str]:
        p = self.entry.plugin
        return {"slot": self.path, "kind": self.entry.kind, "name": self.entry.name,
                "plugin": p.name, "distribution": p.distribution, "version": p.version}


@dataclass
class Resolution:
    config: RunConfig
    slots: dict[str, Slot]
    trainers: list[Slot]
    rewards: list[Slot]
    evaluators: list[Slot]
    recipe: Slot | None = None  # with a recipe, ``trainers`` are its stages once ``with_stages`` has set them

    def all_slots(self) -> list[Slot]:
        return [*self.slots.values(), *self.trainers, *self.rewards, *self.evaluators,
                *([self.recipe] if self.recipe else [])]

    def resolved_config(self) -> dict[str, Any]:
        """The config with every slot named and every option's value spelled out (a recipe's stages are not
        config: they follow from the recipe and the data, and are recorded beside it)."""
        data = self.config.model_dump(mode="json")
        data.update({k: s.spec() for k, s in self.slots.items()})
        for field in LIST_SLOTS:
            data[field] = [s.spec() for s in getattr(self, field)] if field != "trainers" or not self.recipe else []
        data["recipe"] = self.recipe.spec() if self.recipe else None
        return data

    def with_stages(self, specs: list[dict[str, Any]], plugins: Plugins) -> Resolution:
        """This resolution with the recipe's training stages filled in as the trainers."""
        who = self.recipe.who() if self.recipe else "a recipe"
        try:
            trainers = [fill_slot(f"trainers.{i}", "trainer", ComponentSpec.model_validate(spec), plugins, None)
                        for i, spec in enumerate(specs)]
        except (ConfigError, ValidationError) as err:
            raise ConfigError(f"{who} gave a training stage that is not valid: {err}") from err
        return replace(self, trainers=trainers)


def resolve(config: RunConfig, plugins: Plugins) -> Resolution:
    defaults = _defaults(plugins)

    def fill(path: str, kind: str, spec: ComponentSpec, default: str | None = None) -> Slot:
        return fill_slot(path, kind, spec, plugins, default, config._source, config._overrides)  # names the source

    slots: dict[str, Slot] = {}
    for field, kind in SLOT_KINDS.items():
        if field in LIST_SLOTS:
            continue
        spec = getattr(config, field)
        if spec is None:
            spec = getattr(config, INFERENCE_TWINS[field])
        slots[field] = fill(field, kind, spec, defaults.get(INFERENCE_TWINS.get(field, field)))
    trainers = [fill(f"trainers.{i}", "trainer", s) for i, s in enumerate(config.trainers)]
    reward_specs = config.rewards
    if reward_specs is None:
        reward_specs = [RewardSpec(name=n) for n in defaults.get("rewards", [])]
    rewards = []
    for i, reward in enumerate(reward_specs):
        rewards.append(fill(f"rewards.{i}", "reward_func", reward))
        rewards[-1].weight = reward.weight
    specs = config.evaluators
    if specs is None:
        specs = [ComponentSpec(name=n) for n in defaults.get("evaluators", [])]
    evaluators = [fill(f"evaluators.{i}", "evaluator", s) for i, s in enumerate(specs)]
    recipe = fill("recipe", "recipe", config.recipe) if config.recipe else None
    return Resolution(config, slots, trainers, rewards, evaluators, recipe)


def _defaults(plugins: Plugins) -> dict[str, Any]:
    """The plugins' default component names, checked to name config slots (lists for the list slots)."""
    defaults = plugins.defaults()
    slots = [s for s in SLOT_KINDS if s not in INFERENCE_TWINS and s != "trainers"]
    for slot, value in defaults.items():
        if slot not in slots or (slot in LIST_SLOTS) != isinstance(value, list):
            raise PluginLoadError(f"a plugin's gencls_default_components gave {slot}: {value!r}; expected one of "
                                  f"{', '.join(slots)}, with a list of names for rewards and evaluators")
    return defaults


def fill_slot(path: str, kind: str, spec: ComponentSpec, plugins: Plugins, default: str | None,
              source: str = "config", overrides: tuple[str, ...] = ()) -> Slot:
    """The component ``spec`` names (or the slot rule's choice) with its options validated; ``path`` names
    the slot in errors, ``source`` and ``overrides`` where its options were given."""
    name = spec.name or _candidate(path, kind, plugins) or default
    if name is None:
        known = ", ".join(plugins.registry.names(kind)) or "none (was the plugin providing them left out?)"
        raise ConfigError(f"{path}: a {kind} name is required; available: {known}")
    entry = plugins.registry.get(kind, name)
    try:
        options = entry.component.Config.model_validate(spec.options)
    except ValidationError as err:
        raise ConfigError(
            f"options of {kind} {name!r} ({entry.plugin.describe()}):\n"
            + format_validation_error(err, entry.component.Config, source, prefix=path, overrides=overrides)) from None
    return Slot(path, entry, options)


def _candidate(path: str, kind: str, plugins: Plugins) -> str | None:
    """The single component of ``kind`` offered by third-party plugins, if exactly one."""
    offered = [e for e in plugins.registry.entries() if e.kind == kind and not e.plugin.builtin]
    if len(offered) > 1:
        listed = ", ".join(f"{e.name!r} from {e.plugin.describe()}" for e in offered)
        raise AmbiguousComponent(f"{path}: several {kind}s could fill this slot ({listed}); "
                                 f"name one, e.g. --set {path}.name={offered[0].name}")
    return offered[0].name if offered else None
