"""What the engine lends components during a run (``RunContext.services``): building another registered
component by kind and spec, and the plugins' trainer callbacks. Components never see the plugin loader."""

from __future__ import annotations

from typing import Any

from gencls_core.errors import ContractError
from gencls_core.interfaces import Component, ComponentSpec, RunContext
from gencls_core.plugins import Plugins, hook_callers
from gencls_core.resolve import fill_slot


class RunServices:
    """``Services`` backed by the run's loaded plugins."""

    def __init__(self, plugins: Plugins) -> None:
        self._plugins = plugins

    def build(self, kind: str, spec: ComponentSpec | str | dict[str, Any], path: str) -> Component:
        spec = spec if isinstance(spec, ComponentSpec) else ComponentSpec.model_validate(spec)
        return fill_slot(path, kind, spec, self._plugins, None).build()

    def trainer_callbacks(self, ctx: RunContext) -> list[Any]:
        """Every plugin's callbacks for the training stage ``ctx``, checked to be ``TrainerCallback``s; trainers
        built on transformers' ``Trainer`` pass them as ``callbacks=``."""
        from transformers import TrainerCallback

        callbacks: list[Any] = []
        for name, call in hook_callers(self._plugins.pm, "gencls_trainer_callbacks"):  # one plugin at a time
            for cb in [cb for result in call(ctx=ctx) for cb in (result or [])]:
                if not isinstance(cb, TrainerCallback):
                    raise ContractError(f"plugin {name!r} returned {cb!r} from gencls_trainer_callbacks; "
                                        f"expected transformers.TrainerCallback instances")
                callbacks.append(cb)
        return callbacks
