"""Option tables rendered from a component's pydantic ``Config``: what ``gencls plugins show`` prints, the
catalogue ``docs/options.md`` (every built-in component, generated whole from the registry), and the blocks
other docs hold between ``<!-- options: KIND NAME [FIELD] -->`` and ``<!-- /options -->`` (FIELD: a nested
options model, e.g. ``trainer sft rationales``). ``gencls plugins docs`` rewrites both."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

from gencls_core.errors import UsageError
from gencls_core.interfaces import KINDS
from gencls_core.registry import Registry

BLOCK = re.compile(r"(<!-- options: ([\w-]+) ([\w-]+)(?: (\w+))? -->\n).*?(<!-- /options -->)", re.S)


def option_table(config: type[BaseModel]) -> str:
    """A markdown table: each option, its default and its description."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    for name, field in config.model_fields.items():
        default = "required" if field.is_required() else _cell(field.get_default(call_default_factory=True))
        lines.append(f"| `{name}` | {default} | {(field.description or '').replace('|', '/')} |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if value is None or isinstance(value, (bool, list, dict)):
        flow = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
        flow = flow.strip().removesuffix("...").strip()
        return f"`{flow}`".replace("|", "/")
    if isinstance(value, str):
        return f"`{value}`".replace("\n", "\\n") if value else '`""`'
    return str(value)


def config_of(registry: Registry, kind: str, name: str, field: str | None = None) -> type[BaseModel]:
    """The options model of a registered component, or of one of its nested option fields."""
    config = registry.get(kind, name).component.Config
    if field is None:
        return config
    nested = config.model_fields.get(field)
    model = nested.annotation if nested is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise UsageError(f"{kind} {name!r} has no nested options field {field!r}")
    return model


def refresh(text: str, registry: Registry) -> str:
    """``text`` with every generated options block rendered anew."""
    def render(match: re.Match[str]) -> str:
        table = option_table(config_of(registry, match[2], match[3], match[4]))
        return f"{match[1]}{table}\n{match[5]}"

    return BLOCK.sub(render, text)


CATALOGUE_HEAD = """# Options of every built-in component

Generated from the registry by `gencls plugins docs` (do not edit): each component's summary and its `Config`'s
fields, defaults and descriptions. `gencls plugins show KIND NAME` prints one table, for third-party components
too. Set an option with `--set SLOT.OPTION=VALUE` (e.g. `--set decoder.batch_size=16`) or in the run's YAML.
"""


def catalogue(registry: Registry) -> str:
    """``docs/options.md``: every built-in component by kind, with its option table."""
    lines = [CATALOGUE_HEAD]
    for kind in KINDS:
        lines += [f"## `{kind}`", ""]
        for entry in registry.entries():
            if entry.kind == kind and entry.plugin.builtin:
                lines += [f"### `{entry.name}`", "", entry.component.summary(), "",
                          option_table(entry.component.Config), ""]
    return "\n".join(lines)
