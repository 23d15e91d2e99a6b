"""What ``gencls predict`` reads: the input formats, decided by the file name, and what was skipped said aloud.

- ``.csv``: a header row, then one text per row in the text column (``--text-column``, default ``text``);
- ``.jsonl``: one JSON object per line with the text in that field;
- anything else, or ``-`` (standard input): plain UTF-8 text, one text per line.

Blank lines and empty texts are skipped with a warning; every text keeps its line (row) number, which the
output carries, so predictions join back to their inputs.
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


def read_inputs(source: str, text_column: str = "text", output: Path | None = None) -> Inputs:
    """The texts of ``source`` (a path or ``-``), refusing an ``output`` that is the input file itself."""
    name = "standard input" if source == "-" else source
    if source == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"input file {path} {not_a_file(path)}; give a text, .csv or .jsonl file")
        if output is not None and output.resolve() == path.resolve():
            raise UsageError(f"--output {output} is the input file; write the predictions to another file")
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{name} is not UTF-8 text (byte {err.start}: {err.reason}); predict reads text, CSV or "
                        f"JSON lines files in UTF-8") from None
    if "\x00" in text:
        raise DataError(f"{name} holds NUL bytes: it looks like a binary file, not text to classify")
    suffix = Path(source).suffix.lower() if source != "-" else ""
    if suffix == ".csv":
        rows = _csv_rows(text, text_column, name)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(text, text_column, name)
    else:
        rows = list(enumerate(text.splitlines(), 1))
    kept = [(n, t) for n, t in rows if t.strip()]
    skipped = [n for n, t in rows if not t.strip()]
    if not kept:
        raise DataError(f"no texts to classify in {name}")
    if skipped:
        shown = ", ".join(map(str, skipped[:10])) + (", ..." if len(skipped) > 10 else "")
        unit = "row" if suffix == ".csv" else "line"
        warnings.warn(f"{name}: skipped {len(skipped)} empty {unit}(s) ({unit} {shown}); each prediction carries "
                      f"its input's {unit} number in 'line'", GenclsWarning, stacklevel=2)
    return Inputs([t for _, t in kept], [n for n, _ in kept])


def _csv_rows(text: str, column: str, name: str) -> list[tuple[int, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if column not in (reader.fieldnames or []):
        raise DataError(f"{name}: no column {column!r} (columns: {', '.join(reader.fieldnames or [])}); name the "
                        f"text column with --text-column")
    return [(n, row[column] or "") for n, row in enumerate(reader, 1)]


def _jsonl_rows(text: str, field: str, name: str) -> list[tuple[int, str]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            rows.append((n, ""))
            continue
        try:
            value = json.loads(line)[field]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{name} line {n}: expected a JSON object with a \"{field}\" field ({err})") from None
        if not isinstance(value, str):
            raise DataError(f"{name} line {n}: the {field!r} field is {type(value).__name__}, not text")
        rows.append((n, value))
    return rows
