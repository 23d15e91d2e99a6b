"""The errors users meet. Each names the offending thing and says what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenclsError(Exception):
    """Base of every error gencls raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(GenclsError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class PluginNotFound(UsageError):
    """A plugin named with ``--plugins`` is not installed."""


class PluginLoadError(GenclsError):
    """A plugin is installed but could not be imported or registered."""


class ComponentNotFound(UsageError):
    """No registered component of that kind has that name."""


class DuplicateComponent(GenclsError):
    """Two plugins registered a component of the same kind under the same name."""


class AmbiguousComponent(UsageError):
    """Several candidates could fill a slot and none was named."""


class ConfigError(UsageError):
    """The run configuration (file, ``--set`` override, or component options) is invalid."""


class ContractError(GenclsError):
    """A component broke its contract (wrong return type, length, ...)."""


class DataError(GenclsError):
    """A data file or dataset is missing, malformed or inconsistent with the declared labels."""


class ModelError(GenclsError):
    """A model could not be fetched or loaded."""


class TrainingDiverged(GenclsError):
    """A training stage produced a non-finite loss, gradient norm, reward or weight."""


class GenclsWarning(UserWarning):
    """Something the user did not ask for happened (a fallback, a repair); the run goes on."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def not_a_file(path: object) -> str:
    """Why ``path`` is not a readable regular file: it does not exist, is a folder, or is a device or pipe."""
    from pathlib import Path

    path = Path(str(path))
    if not path.exists():
        return "does not exist"
    return "is a folder, not a file" if path.is_dir() else "is not a regular file (a device, pipe or socket)"

