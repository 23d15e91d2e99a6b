"""Turning raw text and label columns into checked ``datasets.Dataset`` splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from gencls_core.errors import DataError
from gencls_core.interfaces import Options


class ColumnOptions(Options):
    text_column: str = Field("text", description="column holding the text")
    label_column: str = Field("label", description="column holding the label")
    labels: list[str] | None = Field(None, description="the declared label set (default: the labels found)")
    label_names: dict[str | int, str] | None = Field(
        None, description="raw label value -> class name, e.g. {0: negative, 1: positive}")
    task: str = Field("Classify the text.", description="one sentence describing the task, used in prompts")


def require_columns(columns: Sequence[str], opts: ColumnOptions, where: str) -> None:
    for key in ("text_column", "label_column"):
        col = getattr(opts, key)
        if col not in columns:
            raise DataError(f"{where}: no column {col!r} (columns: {', '.join(columns)}); set dataset.{key}")


def build_split(texts: Sequence[Any], raw_labels: Sequence[Any], opts: ColumnOptions, where: str,
                row_name: Callable[[int], str] = lambda i: f"row {i}") -> tuple[Any, list[str]]:
    """A Dataset with ``text`` and ``label`` (class names) plus the labels it holds, checking every row."""
    import datasets

    names = {str(k): v for k, v in (opts.label_names or {}).items()}
    declared = set(opts.labels) if opts.labels else None
    labels: list[str] = []
    for i, (text, raw) in enumerate(zip(texts, raw_labels)):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: {row_name(i)}: empty text in column {opts.text_column!r}")
        if raw is None or str(raw).strip() == "":
            raise DataError(f"{where}: {row_name(i)}: empty label in column {opts.label_column!r}")
        label = str(raw).strip()
        if names:
            if label not in names:
                raise DataError(f"{where}: {row_name(i)}: label {label!r} has no entry in dataset.label_names "
                                f"({', '.join(names)})")
            label = names[label]
        if declared is not None and label not in declared:
            raise DataError(f"{where}: {row_name(i)}: label {label!r} is not in the declared labels "
                            f"{sorted(declared)} (dataset.labels)")
        labels.append(label)
    ds = datasets.Dataset.from_dict({"text": list(texts), "label": labels})
    return ds, labels


def label_set(found: Sequence[str], opts: ColumnOptions) -> list[str]:
    """The declared labels in their given order, else the sorted labels found."""
    return list(opts.labels) if opts.labels else sorted(set(found))
