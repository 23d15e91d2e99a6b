"""Run directories and their files, written atomically (temporary file, then rename), with the permissions
an ordinary write would give (the umask applies). JSON is strict: a NaN or infinity is an error, never a
bare ``NaN`` in a file other tools cannot read."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(folder: Path) -> None:
    """Give every file and folder under ``folder`` the mode an ordinary write would (libraries such as
    safetensors write model files 0600)."""
    mask = current_umask()
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, _dumps(data, path, indent=2) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(_dumps(r, path) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _dumps(data: Any, path: Path, indent: int | None = None) -> str:
    try:
        return json.dumps(data, indent=indent, default=str, allow_nan=False)
    except ValueError as err:
        from gencls_core.errors import ContractError

        raise ContractError(f"refusing to write {path.name}: it would hold a NaN or infinite number ({err})") from None


@dataclass
class RunResult:
    """What ``Engine.run()`` returns: the metrics, the run directory and the predictions."""

    run_dir: Path
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    stage_columns: list[str] = field(default_factory=list)  # the stage table's columns (see report.py)
    seconds: float = 0.0  # the run's wall time, over all its attempts (run.json's timings.total)
    components: dict[str, str] = field(default_factory=dict)  # slot -> component name (model, dataset, decoder...)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics that fit in one table cell (numbers and strings)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    """The scalar metrics as the lines of a markdown table (floats to 4 decimals)."""
    return ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                                                 for k, v in scalar_metrics(metrics).items()]


def format_table(rows: list[tuple[str, str]], title: str, header: tuple[str, str] = ("metric", "value"),
                 align: str = ">") -> str:
    """A two-column text table; its values aligned right (``>``) or left (``<``)."""
    width = max([len(k) for k, _ in rows] + [len(header[0])])
    vwidth = max([len(v) for _, v in rows] + [len(header[1])])
    line = f"+-{'-' * width}-+-{'-' * vwidth}-+"
    out = [title, line, f"| {header[0].ljust(width)} | {header[1]:{align}{vwidth}} |", line]
    out += [f"| {k.ljust(width)} | {v:{align}{vwidth}} |" for k, v in rows]
    out.append(line)
    return "\n".join(out)


def stage_table(stages: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table with one row per stage and those of ``columns`` that any stage has."""
    columns = [c for c in columns if any(c in s for s in stages)]

    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(s.get(c)) for c in columns) + " |" for s in stages]
    return "\n".join(lines)


def rarely_predicted(gold: list[str], predicted: list[str | None], labels: list[str], *, share: float = 0.1,
                     least: int = 5, dominant: float = 0.9) -> dict[str, dict[str, int]]:
    """Classes with at least ``least`` gold examples that were predicted fewer than ``share`` times as often:
    the signature of a model collapsed onto the other classes (under-trained, or miscalibrated). When the classes
    are too small for that (many classes, few texts), a collapse shows as one class answered for at least
    ``dominant`` of ``least`` x 2 or more texts while it is at most half of the gold labels: then every class
    with a gold example predicted under ``share`` times as often is listed."""
    gold_counts, predicted_counts = Counter(gold), Counter(predicted)
    top, top_count = max(((c, n) for c, n in predicted_counts.items() if c is not None), key=lambda x: x[1],
                         default=("", 0))
    collapsed = (len(gold) >= 2 * least and top_count >= dominant * len(gold)
                 and gold_counts[top] <= len(gold) / 2)
    floor = 1 if collapsed else least
    return {label: {"gold": gold_counts[label], "predicted": predicted_counts[label]} for label in labels
            if gold_counts[label] >= floor and predicted_counts[label] < share * gold_counts[label]}


def describe_rare(rare: dict[str, dict[str, int]]) -> str:
    """The warning for :func:`rarely_predicted`'s classes."""
    which = ", ".join(f"{label} ({c['predicted']} predicted, {c['gold']} gold)" for label, c in rare.items())
    return (f"the model almost never predicts {which}: it has collapsed onto other answers (an under-trained "
            f"or miscalibrated model, or unparseable outputs; see the confusion matrix)")
