"""A study spec: a base run config and axes of named values; its grid of cells, each a checked run config.

    name: strategies
    base: {dataset: movie-reviews, splits: {train_size: 200, test_size: 300}}
    seeds: [0, 1]                       # sugar for an axis ``seed``
    axes:
      dataset:                          # an axis named by a config path: each value is put there
        rt: movie-reviews
        bbc: {name: bbc-news}
      train:                            # any other name: each value is a patch {config path: value}
        zero-shot: {trainers: []}
        sft: {trainers: [{name: sft}]}
    exclude: [{dataset: bbc, train: zero-shot}]
    baseline: {train: sft}

A cell is one value per axis; its name joins the value names with dots (``rt.sft.0``). ``${axis}`` in a
string value becomes the cell's value name on that axis (``examples/definitions/${dataset}.yaml``).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gencls_core.config import RunConfig, apply_overrides, format_validation_error, read_config_file, set_path
from gencls_core.errors import ConfigError, GenclsError, did_you_mean

NAME = re.compile(r"^[A-Za-z0-9_+-]+$")
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
SEED_AXIS = "seed"
Match = dict[str, str | list[str]]


class StudySpec(BaseModel):
    """What ``gencls study`` reads. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the study's name, recorded in its folder (a folder holds one study)")
    base: dict[str, Any] = Field(default_factory=dict, description="the run config every cell starts from")
    axes: dict[str, dict[str, Any]] = Field(description="axis -> {value name -> value}; an axis named by a config "
                                                        "path takes values for it, any other axis takes patches")
    seeds: list[int] | None = Field(None, description="shorthand for an axis seed with these values")
    include: list[Match] = Field(default_factory=list, description="keep only cells matching one of these")
    exclude: list[Match] = Field(default_factory=list, description="drop cells matching one of these")
    baseline: dict[str, str] | None = Field(None, description="the row the others are compared with: a value of "
                                                               "each row axis (not the column or seed axis)")
    columns: str | None = Field(None, description="the axis whose values are the table's columns (default: an "
                                                  "axis named dataset, if any)")
    heatmap: tuple[str, str] | None = Field(None, description="two row axes plotted as a heatmap per column "
                                                              "(e.g. train-time x inference-time strategy)")
    baselines: list[Literal["tfidf", "seqcls"]] = Field(
        ["tfidf"], description="discriminative baselines in the table: tfidf = TF-IDF + logistic regression; "
                               "seqcls = a LoRA sequence-classification head on the cell's LM (trains once per "
                               "column and seed, with the baseline row's SFT learning rate, epochs, batch size "
                               "and LoRA shape)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r}: use letters, digits, _, + or -")
        return value


@dataclass
class Cell:
    """One run of the study: a value name per axis and the checked run config (``output_dir``/``run_name``
    still unset)."""

    name: str
    values: dict[str, str]
    config: dict[str, Any]
    resolved: dict[str, Any] = field(default_factory=dict)  # every slot named and its options spelled out
    generated_tokens: int = 0  # the most tokens its decoder generates per example (0: it scores answers)
    head_recipe: dict[str, Any] = field(default_factory=dict)  # its first stage's, for the classification head
    files: dict[str, Path] = field(default_factory=dict)  # option (e.g. prompt.definitions) -> a file it reads


@dataclass
class Checked:
    """What resolving a cell's config against the installed plugins gives the study: the config with every slot
    named and its options spelled out, the most tokens its decoder generates, how a classification head should
    train to be compared with it, and the files its components read (the dataset's aside)."""

    resolved: dict[str, Any]
    generated_tokens: int
    head_recipe: dict[str, Any]
    files: dict[str, Path]


@dataclass
class Study:
    spec: StudySpec
    axes: dict[str, dict[str, Any]]  # the spec's axes, the seed axis included
    cells: list[Cell]
    column_axis: str | None
    row_axes: list[str]

    def row(self, cell: Cell) -> str:
        """The table row a cell belongs to: its values on the row axes."""
        return ".".join(cell.values[a] for a in self.row_axes) or "all"

    def column(self, cell: Cell) -> str:
        return cell.values[self.column_axis] if self.column_axis else "all"

    @property
    def baseline_row(self) -> str | None:
        return ".".join(self.spec.baseline[a] for a in self.row_axes) if self.spec.baseline else None


def read_spec(path: str | Path, overrides: list[str] | None = None) -> StudySpec:
    """The spec in a YAML/JSON file, with ``key.path=value`` overrides applied (``base.seed=1``)."""
    data = apply_overrides(read_config_file(path), list(overrides or []))
    try:
        return StudySpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, StudySpec, str(path)).replace("configuration", "study spec",
                                                                                      1)) from None


def expand(spec: StudySpec, check: Any = None) -> Study:
    """The grid of cells after include/exclude, every cell's config validated by ``check`` (a callable taking a
    RunConfig dict, returning the resolved config, its decoder's ``generated_tokens`` and its first training
    stage's ``head_recipe``, or raising a GenclsError)."""
    axes = dict(spec.axes)
    if spec.seeds is not None:
        if SEED_AXIS in axes:
            raise ConfigError("study spec: give seeds either as `seeds:` or as an axis `seed`, not both")
        axes[SEED_AXIS] = {str(s): s for s in spec.seeds}
    if not axes:
        raise ConfigError("study spec: axes is empty; give at least one axis with values")
    for axis, values in axes.items():
        _check_axis(axis, values)
    for key in ("include", "exclude"):
        for match in getattr(spec, key):
            _check_match(key, match, axes)
    column_axis = spec.columns or ("dataset" if "dataset" in axes else None)
    if column_axis is not None and column_axis not in axes:
        raise ConfigError(f"study spec: columns: no axis {column_axis!r}{did_you_mean(column_axis, axes)}")
    row_axes = [a for a in axes if a not in (column_axis, SEED_AXIS)]
    cells = []
    for combo in product(*[list(v) for v in axes.values()]):
        values = dict(zip(axes, combo))
        if (spec.include and not any(_matches(values, m) for m in spec.include)) or \
                any(_matches(values, m) for m in spec.exclude):
            continue
        config = copy.deepcopy(spec.base)
        for axis, name in values.items():
            _apply(config, axis, axes[axis][name], f"axes.{axis}.{name}")
        cells.append(Cell(".".join(combo), values, _substitute(config, values)))
    if not cells:
        raise ConfigError("study spec: the grid is empty (include/exclude left no cell)")
    study = Study(spec, axes, cells, column_axis, row_axes)
    _check_baseline(study)
    _check_heatmap(study)
    if check is not None:
        _check_cells(cells, check)
    return study


def _check_axis(axis: str, values: dict[str, Any]) -> None:
    if not values:
        raise ConfigError(f"study spec: axis {axis!r} has no values")
    for name in values:
        if not NAME.match(str(name)):
            raise ConfigError(f"study spec: axis {axis!r}: value name {name!r}: use letters, digits, _, + or - "
                              f"(the names make cell folder names)")
    if _is_path(axis):
        return
    for name, patch in values.items():
        if patch is not None and not isinstance(patch, dict):
            raise ConfigError(
                f"study spec: axis {axis!r} is not a config path{did_you_mean(axis.split('.')[0], _fields())}, so its "
                f"values must be patches {{config path: value}}; {name!r} is {patch!r}")
        for path in patch or {}:
            if not _is_path(path):
                raise ConfigError(f"study spec: axes.{axis}.{name}: unknown config path {path!r}"
                                  f"{did_you_mean(path.split('.')[0], _fields())}; top-level keys: "
                                  f"{', '.join(_fields())}")


def _fields() -> list[str]:
    return list(RunConfig.model_fields)


def _is_path(key: str) -> bool:
    return key.split(".")[0] in RunConfig.model_fields


def _apply(config: dict[str, Any], axis: str, value: Any, where: str) -> None:
    items = {axis: value} if _is_path(axis) else (value or {})
    for path, item in items.items():
        try:
            set_path(config, path.split("."), copy.deepcopy(item))
        except (ConfigError, IndexError, ValueError) as err:
            raise ConfigError(f"study spec: {where}: cannot set {path}: {err}") from None


def _substitute(node: Any, values: dict[str, str]) -> Any:
    """``${axis}`` in any string becomes the cell's value name on that axis (a per-dataset file, say)."""
    if isinstance(node, dict):
        return {k: _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    def name(match: re.Match) -> str:
        if match[1] not in values:
            raise ConfigError(f"study spec: {node!r} names ${{{match[1]}}}, but there is no axis "
                              f"{match[1]!r}{did_you_mean(match[1], values)}")
        return values[match[1]]
    return PLACEHOLDER.sub(name, node)


def _matches(values: dict[str, str], match: Match) -> bool:
    return all(values[axis] in ([want] if isinstance(want, str) else want) for axis, want in match.items())


def _check_match(key: str, match: Match, axes: dict[str, dict[str, Any]]) -> None:
    for axis, want in match.items():
        if axis not in axes:
            raise ConfigError(f"study spec: {key}: no axis {axis!r}{did_you_mean(axis, axes)}")
        for name in [want] if isinstance(want, str) else want:
            if name not in axes[axis]:
                raise ConfigError(f"study spec: {key}: axis {axis!r} has no value {name!r}"
                                  f"{did_you_mean(name, axes[axis])}; values: {', '.join(axes[axis])}")


def _check_baseline(study: Study) -> None:
    baseline = study.spec.baseline
    if baseline is None:
        return
    if set(baseline) != set(study.row_axes):
        raise ConfigError(f"study spec: baseline names {sorted(baseline)}; it must give one value of each row axis: "
                          f"{', '.join(study.row_axes) or '(none: the study has only column and seed axes)'}")
    if study.baseline_row not in {study.row(c) for c in study.cells}:
        raise ConfigError(f"study spec: baseline {baseline} is not a cell of the grid (check its values, include "
                          f"and exclude)")


def _check_heatmap(study: Study) -> None:
    for axis in study.spec.heatmap or ():
        if axis not in study.row_axes:
            raise ConfigError(f"study spec: heatmap: {axis!r} is not a row axis; row axes: "
                              f"{', '.join(study.row_axes)}")


def _check_cells(cells: list[Cell], check: Any) -> None:
    seen: dict[str, str] = {}
    for cell in cells:
        try:
            checked = check(cell.config)
        except GenclsError as err:
            raise type(err)(f"study cell {cell.name}: {err}") from None
        cell.resolved, cell.generated_tokens = checked.resolved, checked.generated_tokens
        cell.head_recipe, cell.files = checked.head_recipe, checked.files
        key = json.dumps({k: v for k, v in cell.resolved.items() if k not in ("run_name", "output_dir")},
                         sort_keys=True, default=str)
        if key in seen:
            raise ConfigError(f"study cells {seen[key]} and {cell.name} have the same resolved config; drop one "
                              f"(exclude) or make their axis values differ")
        seen[key] = cell.name
