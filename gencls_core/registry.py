"""Components by (kind, name), remembering which plugin and distribution gave each."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from pydantic import BaseModel

from gencls_core.errors import ComponentNotFound, DuplicateComponent, did_you_mean
from gencls_core.interfaces import KINDS, Component

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin: its entry-point name, module, and the distribution that ships it."""

    name: str
    module: str
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        return self.distribution == "gencls"

    def describe(self) -> str:
        return f"plugin {self.name!r} (distribution {self.distribution} {self.version})"


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    component: type[Component]
    plugin: PluginInfo


class Registry:
    """What the loaded plugins contributed."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}

    def add(self, kind: str, component: type[Component], plugin: PluginInfo, name: str | None = None) -> Entry:
        """Validate ``component`` against its kind's contract and store it."""
        base = KINDS[kind][1]
        if not (isinstance(component, type) and issubclass(component, base)):
            raise TypeError(f"{component!r} is not a subclass of gencls_core.interfaces.{base.__name__}")
        name = name or component.name
        if not name or not _NAME.match(name):
            raise TypeError(f"{component.__name__} needs a kebab-case name (got {name!r})")
        config = getattr(component, "Config", None)
        if not (isinstance(config, type) and issubclass(config, BaseModel)):
            raise TypeError(f"{component.__name__}.Config must be a pydantic BaseModel subclass (got {config!r})")
        if config.model_config.get("extra") != "forbid":
            raise TypeError(f"{component.__name__}.Config must forbid unknown keys (model_config extra='forbid')")
        if inspect.isabstract(component):
            missing = ", ".join(sorted(component.__abstractmethods__))
            raise TypeError(f"{component.__name__} does not implement {missing} (abstract in "
                            f"gencls_core.interfaces.{base.__name__})")
        entry = Entry(kind, name, component, plugin)
        self._check_free(entry)
        self._entries[(kind, name)] = entry
        return entry

    def merge(self, other: Registry) -> None:
        """Add all of ``other``'s entries, or none if any name is taken."""
        for entry in other.entries():
            self._check_free(entry)
        self._entries.update(other._entries)

    def _check_free(self, entry: Entry) -> None:
        taken = self._entries.get((entry.kind, entry.name))
        if taken:
            raise DuplicateComponent(
                f"{entry.kind} {entry.name!r} is registered by both {taken.plugin.describe()} and "
                f"{entry.plugin.describe()}; uninstall one or rename its component")

    def get(self, kind: str, name: str) -> Entry:
        try:
            return self._entries[(kind, name)]
        except KeyError:
            known = self.names(kind)
            raise ComponentNotFound(
                f"no {kind} named {name!r}{did_you_mean(name, known)}; available: {', '.join(known) or 'none'}. "
                f"A plugin may provide it: see `gencls plugins list`") from None

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._entries if k == kind)

    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.kind, e.name))
