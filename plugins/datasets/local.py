"""Labelled text from a local CSV, JSON Lines or Parquet file, read through ``datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from gencls_core.errors import DataError
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


class LocalFile(DatasetSource):
    """A local CSV / JSONL / Parquet file with a text and a label column."""

    name = "local"

    class Config(ColumnOptions):
        path: Path = Field(..., description="the data file")
        format: Literal["auto", "csv", "json", "parquet"] = Field("auto", description="auto = from the suffix")
        encoding: str = Field("utf-8", description="text encoding of a CSV or JSON Lines file, e.g. latin-1")

    def load(self, ctx) -> LabeledData:
        c = self.config
        path = c.path
        if not path.is_file():
            raise DataError(f"data file {path} does not exist (dataset.path)")
        fmt = FORMATS.get(path.suffix.lower()) if c.format == "auto" else c.format
        if fmt is None:
            raise DataError(f"{path}: cannot tell the format from the suffix; "
                            f"set dataset.format to csv, json or parquet")
        import datasets

        extra = {}
        if fmt != "parquet":
            check_encoding(path, c.encoding)
            extra = {"encoding": c.encoding}
        try:
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train", **extra)
        except Exception as err:  # datasets raises many types for malformed files
            raise DataError(f"{path}: could not read as {fmt}: {err}") from err
        require_columns(ds.column_names, c, str(path))
        header = 2 if fmt == "csv" else 1

        def row_name(i: int) -> str:
            return f"row {i + 1} (line {i + header})" if fmt != "parquet" else f"row {i + 1}"

        split, found = build_split(ds[c.text_column], ds[c.label_column], c, str(path), row_name)
        return LabeledData({"train": split}, label_set(found, c), c.task, {"path": str(path.resolve())})
