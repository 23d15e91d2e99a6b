"""The tracked benchmark records (benchmarks/records.py): a folder packed into one JSON-lines file unpacks to
the same files, so the tables read from it reproduce."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("records", ROOT / "benchmarks" / "records.py")
records = importlib.util.module_from_spec(spec)
spec.loader.exec_module(records)


def test_a_packed_folder_unpacks_to_the_same_records(tmp_path):
    folder = tmp_path / "cells"
    (folder / "a" / "stages" / "1-sft").mkdir(parents=True)
    (folder / "a" / "run.json").write_text(json.dumps({"status": "done", "data": {"labels": ["x", "y"]}}))
    rows = [{"gold": g, "predicted": p, "correct": g == p, "probs": {"x": 0.25 * i, "y": 1 - 0.25 * i}}
            for i, (g, p) in enumerate([("x", "x"), ("y", None), ("x", "y")])]
    (folder / "a" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ragged = [{"gold": "x"}, {"gold": "y", "extra": [1, 2]}]
    (folder / "a" / "stages" / "1-sft" / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ragged))
    (folder / "summary.md").write_text("| row | acc |\n")
    pack = tmp_path / "cells.jsonl"
    assert records.pack(folder, pack) == 4
    entry = next(json.loads(line) for line in pack.read_text().splitlines() if "predictions" in line)
    assert entry["columns"]["gold"] == {"values": ["x", "y"], "codes": [0, 1, 0]}  # strings stored once
    assert set(entry["columns"]["probs"]["fields"]) == {"x", "y"}
    again = tmp_path / "again"
    assert records.unpack(pack, again) == 4
    for path in folder.rglob("*"):
        if path.is_file():
            mine, theirs = path.read_text(), (again / path.relative_to(folder)).read_text()
            if path.suffix == ".jsonl":
                mine, theirs = ([json.loads(line) for line in t.splitlines()] for t in (mine, theirs))
            elif path.suffix == ".json":
                mine, theirs = json.loads(mine), json.loads(theirs)
            assert mine == theirs, path
    with pytest.raises(SystemExit, match="is not empty"):
        records.unpack(pack, again)  # never over files it did not write


def test_the_tracked_rl_records_unpack_to_the_cells_the_table_reads(tmp_path):
    records.unpack(ROOT / "benchmarks" / "results" / "rl-bench.jsonl", tmp_path / "kept")
    cell = tmp_path / "kept" / "bbc-news" / "seed0-test-sft"
    assert json.loads((cell / "run.json").read_text())["status"] == "done"
    assert len((cell / "predictions.jsonl").read_text().splitlines()) == 500
