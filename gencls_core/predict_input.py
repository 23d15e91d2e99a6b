"""What ``gencls predict`` reads: the input formats, decided by the file name, and what was skipped said aloud.

- ``.csv``: a header row, then one text per row in the text column (``--text-column``, default ``text``);
- ``.jsonl``: one JSON object per line with the text in that field;
- ``.parquet``: a table with the text in that column (rows numbered from 1);
- anything else, or ``-`` (standard input): plain UTF-8 text, one text per line.

Blank lines and empty texts are skipped with a warning; every text keeps its line (row) number, which the
output carries, so predictions join back to their inputs; with ``--id-column``, a CSV or Parquet column or a JSON field
is carried through as each prediction's ``id``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from gencls_core.errors import DataError, GenclsWarning, UsageError, not_a_file


@dataclass
class Inputs:
    texts: list[str]
    lines: list[int]  # the line (plain, JSON lines) or data row (CSV, header excluded) of each text, from 1
    ids: list[str] | None = None  # the id column's value of each text (``id_column``)


def read_inputs(source: str, text_column: str = "text", output: Path | None = None,
                id_column: str | None = None) -> Inputs:
    """The texts of ``source`` (a path or ``-``), with their ``id_column`` values (CSV or JSON lines), refusing an
    ``output`` that is the input file itself."""
    name = "standard input" if source == "-" else source
    if source == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"input file {path} {not_a_file(path)}; give a text, .csv, .jsonl or .parquet file")
        if output is not None and output.resolve() == path.resolve():
            raise UsageError(f"--output {output} is the input file; write the predictions to another file")
        if path.suffix.lower() == ".parquet":
            return _kept(_parquet_rows(path, text_column, id_column), name, "row", id_column)
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{name} is not UTF-8 text (byte {err.start}: {err.reason}); predict reads text, CSV or "
                        f"JSON lines files in UTF-8") from None
    if "\x00" in text:
        raise DataError(f"{name} holds NUL bytes: it looks like a binary file, not text to classify")
    suffix = Path(source).suffix.lower() if source != "-" else ""
    if id_column is not None and suffix not in (".csv", ".jsonl"):
        raise UsageError(f"--id-column {id_column}: {name} is plain text, which has no columns; give a .csv, "
                         f".jsonl or .parquet file")
    if suffix == ".csv":
        rows = _csv_rows(text, text_column, name, id_column)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(text, text_column, name, id_column)
    else:
        rows = [(n, t, None) for n, t in enumerate(text.splitlines(), 1)]
    return _kept(rows, name, "row" if suffix == ".csv" else "line", id_column)


def _kept(rows: list[tuple[int, str, str | None]], name: str, unit: str, id_column: str | None) -> Inputs:
    """The non-empty texts of ``rows`` (number, text, id), a warning for the skipped ones, and every id present."""
    kept = [(n, t, i) for n, t, i in rows if t.strip()]
    skipped = [n for n, t, _ in rows if not t.strip()]
    if not kept:
        raise DataError(f"no texts to classify in {name}")
    if skipped:
        shown = ", ".join(map(str, skipped[:10])) + (", ..." if len(skipped) > 10 else "")
        warnings.warn(f"{name}: skipped {len(skipped)} empty {unit}(s) ({unit} {shown}); each prediction carries "
                      f"its input's {unit} number in 'line'", GenclsWarning, stacklevel=3)
    ids = [i for _, _, i in kept if i is not None]
    if id_column is not None and len(ids) < len(kept):
        missing = [str(n) for n, _, i in kept if i is None]
        raise DataError(f"{name}: {unit} {', '.join(missing[:10])} {'has' if len(missing) == 1 else 'have'} no "
                        f"{id_column!r} value; every text needs its id with --id-column")
    return Inputs([t for _, t, _ in kept], [n for n, _, _ in kept], ids if id_column is not None else None)


def _check_columns(name: str, columns: list[str], column: str, id_column: str | None) -> None:
    """The text column and the id column (when asked for) are among a table's ``columns``."""
    for wanted, what in ((column, "text"), (id_column, "id")):
        if wanted is not None and wanted not in columns:
            raise DataError(f"{name}: no column {wanted!r} (columns: {', '.join(columns)}); name the {what} column "
                            f"with --{what}-column")


def _parquet_rows(path: Path, column: str, id_column: str | None) -> list[tuple[int, str, str | None]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow's errors for a file that is not Parquet have no common base
        raise DataError(f"{path} does not read as Parquet ({type(err).__name__}: {err})") from None
    _check_columns(str(path), table.column_names, column, id_column)
    texts = table.column(column).to_pylist()
    bad = [n for n, t in enumerate(texts, 1) if t is not None and not isinstance(t, str)]
    if bad:
        raise DataError(f"{path}: column {column!r} holds {type(texts[bad[0] - 1]).__name__}, not text (row {bad[0]})")
    ids = table.column(id_column).to_pylist() if id_column else [None] * len(texts)
    return [(n, t or "", None if i is None else str(i)) for n, (t, i) in enumerate(zip(texts, ids), 1)]


def _csv_rows(text: str, column: str, name: str, id_column: str | None) -> list[tuple[int, str, str | None]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _check_columns(name, list(reader.fieldnames or []), column, id_column)
    return [(n, row[column] or "", row[id_column] if id_column else None) for n, row in enumerate(reader, 1)]


def _jsonl_rows(text: str, field: str, name: str, id_field: str | None) -> list[tuple[int, str, str | None]]:
    rows: list[tuple[int, str, str | None]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            rows.append((n, "", None))
            continue
        try:
            record = json.loads(line)
            value, key = record[field], None if id_field is None else record[id_field]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            wanted = f'"{field}"' + (f' and "{id_field}" fields' if id_field else " field")
            raise DataError(f"{name} line {n}: expected a JSON object with a {wanted} ({err})") from None
        if not isinstance(value, str):
            raise DataError(f"{name} line {n}: the {field!r} field is {type(value).__name__}, not text")
        rows.append((n, value, None if key is None else str(key)))
    return rows
