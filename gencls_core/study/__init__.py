"""``gencls study``: GenCLS++'s strategy study as one resumable command over a grid of normal runs.

``spec.py`` reads the spec and expands its cells, ``plan.py`` decides which cells share training,
``runner.py`` runs them, ``summary.py`` / ``plots.py`` / ``baselines.py`` build the table and figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gencls_core.study.plan import Planned, plan
from gencls_core.study.spec import Checked, Study, expand, read_spec


def open_study(spec_path: str | Path, overrides: list[str] | None = None) -> tuple[Study, list[Planned]]:
    """The spec's grid, every cell's config validated against the installed plugins, and the plan."""
    study = expand(read_spec(spec_path, overrides), check=_resolved)
    return study, plan(study)


def _resolved(config: dict[str, Any]) -> Checked:
    """``config`` resolved against the installed plugins: the head recipe is its first stage's that gives one."""
    from gencls_core.config import build_config
    from gencls_core.interfaces import Decoder, Trainer
    from gencls_core.resolve import resolve

    run_config = build_config(config)
    resolution = resolve(run_config, _plugins(tuple(run_config.plugins)))
    heads = (slot.build(Trainer).head_recipe() for slot in resolution.trainers)
    head = next((h for h in heads if h is not None), {})
    files = {f"{slot.path}.{option}": path for slot in resolution.all_slots() if slot.path != "dataset"
             for option, path in slot.build().files().items()}
    return Checked(resolution.resolved_config(), resolution.slots["decoder"].build(Decoder).generated_tokens(),
                   head, files)


_LOADED: dict[tuple[str, ...], Any] = {}


def _plugins(names: tuple[str, ...]) -> Any:
    from gencls_core.plugins import load_plugins

    if names not in _LOADED:
        _LOADED[names] = load_plugins(list(names))
    return _LOADED[names]
