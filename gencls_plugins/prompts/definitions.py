"""Category definitions for prompts: from the config (a mapping) or a YAML/JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gencls_core.errors import ConfigError, not_a_file
from gencls_core.safeyaml import YamlTooLarge, load_yaml


def load_definitions(value: dict[str, str] | str, classes: list[str], who: str) -> dict[str, str]:
    """Class name -> definition, one for every class and none for an unknown class."""
    source = "definitions"
    if isinstance(value, str):
        path = Path(value)
        source = f"definitions file {path}"
        if not path.is_file():
            raise ConfigError(f"{who}: {source} {not_a_file(path)} (write one with `gencls define`)")
        try:
            text = path.read_text()
            value = json.loads(text) if path.suffix == ".json" else load_yaml(text, strings=True)
        except (json.JSONDecodeError, yaml.YAMLError, YamlTooLarge) as err:
            raise ConfigError(f"{who}: {source} is not valid YAML/JSON: {err}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise ConfigError(f"{who}: {source} must map each class name to a non-empty definition")
    value = {str(k): v.strip() for k, v in value.items()}
    missing = [c for c in classes if c not in value]
    if missing:
        raise ConfigError(f"{who}: {source} has no definition for label(s) {missing}; every class needs one")
    unknown = sorted(set(value) - set(classes))
    if unknown:
        raise ConfigError(f"{who}: {source} defines unknown label(s) {unknown}; classes: {classes}")
    return value
