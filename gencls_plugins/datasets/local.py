"""Labelled text from local CSV, JSON Lines or Parquet files, read through ``datasets``: one file the engine
splits, or your own train / validation / test files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from gencls_core.errors import DataError, not_a_file
from gencls_core.interfaces import DatasetSource, LabeledData
from gencls_plugins.datasets.columns import ColumnOptions, build_split, label_set, require_columns

FORMATS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def check_encoding(path: Path, encoding: str) -> None:
    """Read the whole file as ``encoding``; a DataError names the byte offset and the option to set."""
    import codecs

    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise DataError(f"dataset.encoding={encoding!r} is not a known text encoding") from None
    offset = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                raise DataError(f"{path} is not {encoding} text (byte {offset + err.start}: {err.reason}); set "
                                f"dataset.encoding to the file's encoding, e.g. latin-1 or cp1252") from None
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise DataError(f"{path} is not {encoding} text (it ends inside a character: {err.reason}); set "
                            f"dataset.encoding to the file's encoding") from None


SPLITS = ("train", "validation", "test")


class LocalFile(DatasetSource):
    """Local CSV / JSONL / Parquet files with a text and a label column: one file, or train/validation/test."""

    name = "local"

    class Config(ColumnOptions):
        path: Path | None = Field(None, description="one data file, from which the engine carves seeded splits")
        train: Path | None = Field(None, description="your training file (instead of path; with test and/or "
                                                     "validation files: your own splits, kept as given)")
        validation: Path | None = Field(None, description="your validation file")
        test: Path | None = Field(None, description="your test file (sampled down to splits.test_size)")
        format: Literal["auto", "csv", "json", "parquet"] = Field("auto", description="auto = from the suffix")
        encoding: str = Field("utf-8", description="text encoding of a CSV or JSON Lines file, e.g. latin-1")

        @model_validator(mode="after")
        def _one_source(self) -> LocalFile.Config:
            files = [s for s in SPLITS if getattr(self, s) is not None]
            if self.path is not None and files:
                raise ValueError(f"give either path (one file) or train/validation/test files, not both "
                                 f"(got path and {', '.join(files)})")
            if self.path is None and not files:
                raise ValueError("needs path (one file) or train/validation/test files")
            if files and "train" not in files and "test" not in files:
                raise ValueError("a validation file needs a train or a test file beside it")
            return self

    def load(self, ctx) -> LabeledData:
        c = self.config
        given = {"train": c.path} if c.path is not None else {s: getattr(c, s) for s in SPLITS if getattr(c, s)}
        splits, found = {}, []
        for split, path in given.items():
            splits[split], labels = self._read(path, "path" if c.path is not None else split)
            found += labels
        source = {split: str(path.resolve()) for split, path in given.items()}
        return LabeledData(splits, label_set(found, c), c.task, {"path": source["train"]} if c.path else source,
                           multi_label=c.multi_label)

    def files(self) -> dict[str, Path]:
        return {s: getattr(self.config, s) for s in ("path", *SPLITS) if getattr(self.config, s) is not None}

    def _read(self, path: Path, option: str) -> tuple[Any, list[str]]:
        """One file as a checked split, and the labels it holds."""
        c = self.config
        if not path.is_file():
            raise DataError(f"data file {path} {not_a_file(path)} (dataset.{option})")
        fmt = FORMATS.get(path.suffix.lower()) if c.format == "auto" else c.format
        if fmt is None:
            raise DataError(f"{path}: cannot tell the format from the suffix; "
                            f"set dataset.format to csv, json or parquet")
        if fmt != "parquet":
            check_encoding(path, c.encoding)
        if fmt == "json":
            columns, rows = read_json_rows(path, c.encoding)
        else:
            columns, rows = self._read_table(path, fmt)
        require_columns(columns, c, str(path))
        header = 2 if fmt == "csv" else 1

        def row_name(i: int) -> str:
            return f"row {i + 1} (line {i + header})" if fmt == "csv" else f"row {i + 1}"

        return build_split([r.get(c.text_column) for r in rows], [r.get(c.label_column) for r in rows], c,
                           str(path), row_name)

    def _read_table(self, path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
        """A CSV (every cell the string written in the file: no type guessing, no NA values) or Parquet file."""
        import datasets

        extra: dict[str, Any] = {}
        if fmt == "csv":
            with open(path, newline="", encoding=self.config.encoding) as f:
                header = next(csv.reader(f), [])
            if len(set(header)) != len(header):
                raise DataError(f"{path}: the header names a column twice ({', '.join(header)}); rename one")
            extra = {"encoding": self.config.encoding, "keep_default_na": False, "na_filter": False,
                     "features": datasets.Features({name: datasets.Value("string") for name in header})}
        try:
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train", **extra)
        except Exception as err:  # datasets raises many types for malformed files
            raise DataError(f"{path}: could not read as {fmt}: {' '.join(str(err).split())[:300]}") from err
        return ds.column_names, ds.to_list()


def read_json_rows(path: Path, encoding: str) -> tuple[list[str], list[dict[str, Any]]]:
    """JSON Lines (or one JSON array) of objects, numbers and booleans kept as written (``1.0`` is ``"1.0"``, not
    ``1``; ``true`` is ``"true"``). A line that is not JSON is a DataError naming it."""
    text = path.read_text(encoding=encoding)
    scalars = {"parse_int": str, "parse_float": str, "parse_constant": str}
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text, **scalars)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
        numbered = list(enumerate(rows, 1)) if isinstance(rows, list) else [(1, rows)]
    else:
        numbered = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((n, json.loads(line, **scalars)))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: line {n} is not valid JSON ({err.msg}); fix or remove that line") from None
    columns: dict[str, None] = {}
    for n, row in numbered:
        if not isinstance(row, dict):
            raise DataError(f"{path}: item {n} is not a JSON object with text and label fields")
        columns.update(dict.fromkeys(row))
    return list(columns), [{k: _as_written(v) for k, v in row.items()} for _, row in numbered]


def _as_written(value: Any) -> Any:
    """A JSON scalar as the text it was written as (numbers arrive as strings already)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
