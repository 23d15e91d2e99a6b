"""A study's table: one row per strategy, one column per dataset (and their average), accuracy and macro-F1
with 95% bootstrap intervals over the evaluated examples (averaged over seeds), and each row's accuracy minus
the baseline row's with its paired bootstrap interval. Written as ``summary.csv`` and ``summary.md``."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gencls_core.results import describe_rare, rarely_predicted, read_jsonl, write_text_atomic
from gencls_core.stats import macro_f1, seed_bootstrap
from gencls_core.study.baselines import ROWS as BASELINE_ROWS
from gencls_core.study.baselines import baseline_path, baseline_predictions, baseline_recipe
from gencls_core.study.spec import Cell, Study


@dataclass
class Scored:
    """One run's evaluated examples: gold and predicted class indices (-1: no label), and what identifies the
    examples: their texts, or their gold labels in order where the records were kept without texts."""

    gold: np.ndarray
    predicted: np.ndarray
    examples: list[str]
    classes: int

    @classmethod
    def from_rows(cls, rows: list[dict], labels: list[str]) -> Scored:
        index = {label: i for i, label in enumerate(labels)}
        examples = [r["text"] for r in rows] if all("text" in r for r in rows) else [r["gold"] for r in rows]
        return cls(np.array([index[r["gold"]] for r in rows]),
                   np.array([index.get(r["predicted"], -1) for r in rows]), examples, len(labels))


@dataclass
class Entry:
    """A row's results in one column: per seed, and the intervals."""

    seeds: list[str]
    accuracy: tuple[float, float, float]
    f1: tuple[float, float, float]
    per_seed_accuracy: list[float]
    per_seed_f1: list[float]
    delta: tuple[float, float, float] | None = None


@dataclass
class Summary:
    rows: list[str]
    columns: list[str]
    entries: dict[tuple[str, str], Entry]
    baseline: str | None
    missing: list[str] = field(default_factory=list)  # cells without a finished run
    notes: list[str] = field(default_factory=list)


def summarize(study: Study, folder: Path, *, resamples: int = 2000) -> Summary:
    """Read every finished cell's predictions (and fit the discriminative baselines) and build the table."""
    scored: dict[tuple[str, str], dict[str, Scored]] = {}
    rows, columns, missing, notes = [], [], [], []
    anchors: dict[tuple[str, Any], tuple[Cell, list[str]]] = {}
    for cell in study.cells:
        row, column, seed = study.row(cell), study.column(cell), cell.values.get("seed", "-")
        rows += [row] if row not in rows else []
        columns += [column] if column not in columns else []
        run = folder / cell.name
        record = json.loads((run / "run.json").read_text()) if (run / "run.json").is_file() else {}
        if record.get("status") != "done":
            missing.append(cell.name)
            continue
        labels, predictions = record["data"]["labels"], read_jsonl(run / "predictions.jsonl")
        rare = rarely_predicted([r["gold"] for r in predictions], [r["predicted"] for r in predictions], labels)
        notes += [f"{cell.name}: {describe_rare(rare)}"] if rare else []
        scored.setdefault((row, column), {})[seed] = Scored.from_rows(predictions, labels)
        anchors.setdefault((column, seed), (cell, labels))
    # the baselines train like the baseline row's cell (its SFT recipe), on any cell's data
    head_from = {(study.column(c), c.values.get("seed", "-")): c.head_recipe for c in study.cells
                 if study.row(c) == study.baseline_row}
    for name in study.spec.baselines:
        rows.append(BASELINE_ROWS[name])
        for (column, seed), (cell, labels) in anchors.items():
            recipe = baseline_recipe(name, head_from.get((column, seed), cell.head_recipe), cell.resolved)
            predictions = baseline_predictions(name, cell.config, baseline_path(folder, name, column, seed), recipe)
            scored.setdefault((BASELINE_ROWS[name], column), {})[seed] = Scored.from_rows(predictions, labels)
    summary = Summary(rows, columns, {}, study.baseline_row, missing, notes)
    for (row, column), by_seed in scored.items():
        summary.entries[row, column] = _entry(by_seed, resamples)
    if summary.baseline:
        for (row, column), entry in summary.entries.items():
            base = scored.get((summary.baseline, column))
            if row != summary.baseline and base:
                entry.delta = _delta(base, scored[row, column], resamples, f"{row} / {column}", summary.notes)
    return summary


def _entry(by_seed: dict[str, Scored], resamples: int) -> Entry:
    seeds = sorted(by_seed)
    runs = [by_seed[s] for s in seeds]
    sizes = [len(r.gold) for r in runs]
    accuracy = seed_bootstrap([_accuracy(r) for r in runs], sizes, resamples=resamples)
    f1 = seed_bootstrap([_f1(r) for r in runs], sizes, resamples=resamples)
    return Entry(seeds, accuracy, f1, [float(_accuracy(r)(np.arange(len(r.gold))[None])[0]) for r in runs],
                 [float(_f1(r)(np.arange(len(r.gold))[None])[0]) for r in runs])


def _delta(base: dict[str, Scored], other: dict[str, Scored], resamples: int, where: str,
           notes: list[str]) -> tuple[float, float, float] | None:
    """Accuracy of ``other`` minus ``base`` on the seeds both have, paired on the same examples."""
    seeds = sorted(set(base) & set(other))
    for seed in seeds:
        if base[seed].examples != other[seed].examples:
            notes.append(f"{where}: seed {seed} evaluated other examples than the baseline; no paired difference")
            return None
    if not seeds:
        return None
    stats = [_difference(base[s], other[s]) for s in seeds]
    return seed_bootstrap(stats, [len(base[s].gold) for s in seeds], resamples=resamples)


def _accuracy(r: Scored):
    correct = (r.gold == r.predicted).astype(float)
    return lambda idx: correct[idx].mean(-1)


def _f1(r: Scored):
    return lambda idx: macro_f1(r.gold[idx], r.predicted[idx], r.classes)


def _difference(base: Scored, other: Scored):
    a, b = _accuracy(base), _accuracy(other)
    return lambda idx: b(idx) - a(idx)


# -- writing -------------------------------------------------------------------------------------------------
def write_summary(summary: Summary, folder: Path, title: str) -> list[Path]:
    """``summary.csv`` (one line per row and column) and ``summary.md`` (the paper-shaped tables)."""
    write_text_atomic(folder / "summary.csv", _csv(summary))
    write_text_atomic(folder / "summary.md", _markdown(summary, title))
    return [folder / "summary.csv", folder / "summary.md"]


def _csv(summary: Summary) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "seeds", "accuracy", "accuracy_low", "accuracy_high", "accuracy_sd",
                     "f1_macro", "f1_low", "f1_high", "f1_sd", "delta_accuracy", "delta_low", "delta_high"])
    for (row, column), e in summary.entries.items():
        delta = [f"{v:.4f}" for v in e.delta] if e.delta else ["", "", ""]
        writer.writerow([row, column, " ".join(e.seeds), *[f"{v:.4f}" for v in e.accuracy],
                         _sd(e.per_seed_accuracy), *[f"{v:.4f}" for v in e.f1], _sd(e.per_seed_f1), *delta])
    return out.getvalue()


def _sd(values: list[float]) -> str:
    return f"{statistics.stdev(values):.4f}" if len(values) > 1 else ""


def _markdown(summary: Summary, title: str) -> str:
    lines = [f"# Study {title}", "",
             "Accuracy and macro-F1 on the evaluated split: mean over seeds (± standard deviation when several), "
             "[95% bootstrap interval over examples]; **bold**: best in the column."]
    for heading, pick, per_seed in (("Accuracy", lambda e: e.accuracy, lambda e: e.per_seed_accuracy),
                                    ("Macro-F1", lambda e: e.f1, lambda e: e.per_seed_f1)):
        lines += ["", f"## {heading}", "", _table(summary, pick, per_seed)]
    if summary.baseline:
        lines += ["", f"## Accuracy minus the baseline ({summary.baseline})", "",
                  "Points, paired bootstrap 95% interval (the same resampled examples for both rows, per seed).", "",
                  "| row | " + " | ".join(summary.columns) + " |", "|---" * (len(summary.columns) + 1) + "|"]
        for row in summary.rows:
            if row == summary.baseline:
                continue
            cells = []
            for column in summary.columns:
                d = (e := summary.entries.get((row, column))) and e.delta
                cells.append(f"{100 * d[0]:+.1f} [{100 * d[1]:+.1f}, {100 * d[2]:+.1f}]" if d else "—")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    if summary.missing:
        lines += ["", f"Not finished (left out): {', '.join(summary.missing)}."]
    lines += [f"- {n}" for n in summary.notes]
    return "\n".join(lines) + "\n"


def _table(summary: Summary, pick, per_seed) -> str:
    best = {c: max((pick(e)[0] for (r, col), e in summary.entries.items() if col == c), default=None)
            for c in summary.columns}
    out = ["| row | " + " | ".join(summary.columns) + " | average |", "|---" * (len(summary.columns) + 2) + "|"]
    for row in summary.rows:
        cells, means = [], []
        for column in summary.columns:
            e = summary.entries.get((row, column))
            if e is None:
                cells.append("—")
                continue
            value, low, high = pick(e)
            sd = f" ± {statistics.stdev(per_seed(e)):.3f}" if len(e.seeds) > 1 else ""
            text = f"{value:.3f}{sd} [{low:.3f}, {high:.3f}]"
            cells.append(f"**{text}**" if value == best[column] else text)
            means.append(value)
        average = f"{statistics.mean(means):.3f}" if len(means) == len(summary.columns) else "—"
        out.append(f"| {row} | " + " | ".join(cells) + f" | {average} |")
    return "\n".join(out)
