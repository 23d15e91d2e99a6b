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
    multi_label: bool = Field(False, description="each text has any number of labels (none included): a list in "
                                                 "JSON Lines / Parquet, labels joined by label_separator in CSV")
    label_separator: str = Field("|", min_length=1, description="what joins a text's labels in a CSV cell "
                                                                "(multi_label)")


def require_columns(columns: Sequence[str], opts: ColumnOptions, where: str) -> None:
    for key in ("text_column", "label_column"):
        col = getattr(opts, key)
        if col not in columns:
            raise DataError(f"{where}: no column {col!r} (columns: {', '.join(columns)}); set dataset.{key}")


def build_split(texts: Sequence[Any], raw_labels: Sequence[Any], opts: ColumnOptions, where: str,
                row_name: Callable[[int], str] = lambda i: f"row {i}") -> tuple[Any, list[str]]:
    """A Dataset with ``text`` and ``label`` (a class name; with ``multi_label``, a list of them without
    repeats) plus the labels it holds, checking every row."""
    import datasets

    labels: list[Any] = []
    for i, (text, raw) in enumerate(zip(texts, raw_labels)):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: {row_name(i)}: empty text in column {opts.text_column!r}")
        if opts.multi_label:
            labels.append(_label_list(raw, opts, f"{where}: {row_name(i)}"))
            continue
        if raw is None or str(raw).strip() == "":
            raise DataError(f"{where}: {row_name(i)}: empty label in column {opts.label_column!r}")
        labels.append(_class_name(str(raw).strip(), opts, f"{where}: {row_name(i)}"))
    kind = datasets.Sequence(datasets.Value("string")) if opts.multi_label else datasets.Value("string")
    ds = datasets.Dataset.from_dict({"text": list(texts), "label": labels},
                                    features=datasets.Features({"text": datasets.Value("string"), "label": kind}))
    return ds, sorted({x for row in labels for x in row}) if opts.multi_label else labels


def _class_name(label: str, opts: ColumnOptions, where: str) -> str:
    """``label`` as a class name (through ``label_names``), checked against the declared labels."""
    names = {str(k): v for k, v in (opts.label_names or {}).items()}
    if names:
        if label not in names:
            raise DataError(f"{where}: label {label!r} has no entry in dataset.label_names ({', '.join(names)})")
        label = names[label]
    if opts.labels and label not in opts.labels:
        raise DataError(f"{where}: label {label!r} is not in the declared labels {sorted(opts.labels)} "
                        f"(dataset.labels)")
    return label


def _label_list(raw: Any, opts: ColumnOptions, where: str) -> list[str]:
    """A multi-label cell as class names: a list (JSON Lines, Parquet) or a string joined by
    ``label_separator`` (CSV); empty is the empty set; a label given twice is an error."""
    if raw is None:
        items: list[Any] = []
    elif isinstance(raw, str):
        items = raw.split(opts.label_separator) if raw.strip() else []
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise DataError(f"{where}: the labels in column {opts.label_column!r} are a {type(raw).__name__}; give a "
                        f"list, or a string joined by {opts.label_separator!r} (dataset.label_separator)")
    out: list[str] = []
    for item in items:
        if item is None or not str(item).strip():
            raise DataError(f"{where}: an empty label in {raw!r} (dataset.label_separator is "
                            f"{opts.label_separator!r})")
        label = _class_name(str(item).strip(), opts, where)
        if label in out:
            raise DataError(f"{where}: label {label!r} is given twice in {raw!r}")
        out.append(label)
    return out


def label_set(found: Sequence[str], opts: ColumnOptions) -> list[str]:
    """The declared labels in their given order, else the sorted labels found."""
    return list(opts.labels) if opts.labels else sorted(set(found))
