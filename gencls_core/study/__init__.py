"""``gencls study``: GenCLS++'s strategy study as one resumable command over a grid of normal runs.

``spec.py`` reads the spec and expands its cells, ``plan.py`` decides which cells share training,
``runner.py`` runs them, ``summary.py`` / ``plots.py`` / ``baselines.py`` build the table and figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gencls_core.study.plan import Planned, plan
from gencls_core.study.spec import Study, expand, read_spec


def open_study(spec_path: str | Path, overrides: list[str] | None = None) -> tuple[Study, list[Planned]]:
    """The spec's grid, every cell's config validated against the installed plugins, and the plan."""
    study = expand(read_spec(spec_path, overrides), check=_resolved)
    return study, plan(study)


def _resolved(config: dict[str, Any]) -> dict[str, Any]:
    from gencls_core.config import build_config
    from gencls_core.resolve import resolve

    run_config = build_config(config)
    return resolve(run_config, _plugins(tuple(run_config.plugins))).resolved_config()


_LOADED: dict[tuple[str, ...], Any] = {}


def _plugins(names: tuple[str, ...]) -> Any:
    from gencls_core.plugins import load_plugins

    if names not in _LOADED:
        _LOADED[names] = load_plugins(list(names))
    return _LOADED[names]
