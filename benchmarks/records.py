"""The tracked benchmark records: one JSON-lines pack per benchmark instead of a folder of run files.

    python benchmarks/records.py pack FOLDER PACK        # a folder of records into one pack
    python benchmarks/records.py unpack PACK FOLDER      # the folder back (a new or empty folder only)
    python benchmarks/records.py study PACK SPEC         # a study's tables regenerated from its pack

A pack has one line per file of the folder, sorted by path: JSON files as parsed values, other text files as text,
and JSON-lines files (predictions) column by column: a column of few distinct strings as those strings and one
small integer per row, a column of mappings with the same keys as one column per key. Unpacking gives the same rows
back (the same keys, values and order). ``rl.py`` keeps its finished cells in ``benchmarks/results/rl-
bench.jsonl``; ``gencls study summary`` reads the study packs once unpacked (``study``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CODED = 256  # a string column with at most this many distinct values is stored as codes


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = list(rows[0]) if rows else []
    if any(list(r) != keys for r in rows):
        return {"rows": rows}
    columns: dict[str, Any] = {}
    for key in keys:
        columns[key] = _column([r[key] for r in rows])
    return {"keys": keys, "length": len(rows), "columns": columns}


def _column(values: list[Any]) -> Any:
    """Strings of few distinct values as codes; mappings with the same keys as one column per key."""
    distinct = list(dict.fromkeys(values)) if all(isinstance(v, str | None) for v in values) else []
    if 0 < len(distinct) <= CODED:
        index = {v: i for i, v in enumerate(distinct)}
        return {"values": distinct, "codes": [index[v] for v in values]}
    keys = list(values[0]) if values and isinstance(values[0], dict) else None
    if keys is not None and all(isinstance(v, dict) and list(v) == keys for v in values):
        return {"fields": {k: _column([v[k] for v in values]) for k in keys}}
    return values


def _values(column: Any, length: int) -> list[Any]:
    if isinstance(column, list):
        return column
    if "codes" in column:
        return [column["values"][i] for i in column["codes"]]
    fields = {k: _values(c, length) for k, c in column["fields"].items()}
    return [{k: fields[k][i] for k in fields} for i in range(length)]


def _rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if "rows" in entry:
        return entry["rows"]
    columns = {k: _values(c, entry["length"]) for k, c in entry["columns"].items()}
    return [{k: columns[k][i] for k in entry["keys"]} for i in range(entry["length"])]


def pack(folder: Path, out: Path) -> int:
    """Write ``folder``'s files into the pack ``out``; the number of files."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name, text = path.relative_to(folder).as_posix(), path.read_text()
        if path.suffix == ".jsonl":
            entry = {"path": name, **_columns([json.loads(line) for line in text.splitlines() if line.strip()])}
        elif path.suffix == ".json":
            entry = {"path": name, "json": json.loads(text)}
        else:
            entry = {"path": name, "text": text}
        lines.append(json.dumps(entry, separators=(",", ":")))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    return len(lines)


def unpack(source: Path, folder: Path) -> int:
    """Recreate the pack's files under ``folder`` (which must be new or empty); the number of files."""
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"{folder} is not empty: unpack into a new folder")
    entries = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    for entry in entries:
        path = folder / entry["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if "json" in entry:
            path.write_text(json.dumps(entry["json"], indent=2) + "\n")
        elif "text" in entry:
            path.write_text(entry["text"])
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in _rows(entry)))
    return len(entries)


def study(source: Path, spec: Path) -> None:
    """Unpack a study's pack into a temporary folder and run ``gencls study summary`` on it (it prints the
    tables)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "study"
        unpack(source, folder)
        subprocess.run([sys.executable, "-m", "gencls_core", "study", "summary", str(spec), "--out", str(folder)],
                       check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, first, second in (("pack", "folder", "pack"), ("unpack", "pack", "folder"), ("study", "pack", "spec")):
        p = sub.add_parser(name)
        p.add_argument(first, type=Path)
        p.add_argument(second, type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        print(f"{pack(args.folder, args.pack)} files into {args.pack}")
    elif args.command == "unpack":
        print(f"{unpack(args.pack, args.folder)} files into {args.folder}")
    else:
        study(args.pack, args.spec)


if __name__ == "__main__":
    main()
