"""A study's plots: accuracy per row with its interval (one bar chart per column), and a heatmap of two row
axes per column (e.g. train-time x inference-time strategy)."""

from __future__ import annotations

import statistics
from pathlib import Path

from gencls_core.study.spec import Study
from gencls_core.study.summary import Summary


def write_plots(study: Study, summary: Summary, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for column in summary.columns:
        rows = [r for r in summary.rows if (r, column) in summary.entries]
        if rows:
            written.append(_bars(summary, column, rows, out / f"accuracy-{column}.png"))
        if study.spec.heatmap:
            written.append(_heatmap(study, summary, column, out / f"heatmap-{column}.png"))
    return written


def _bars(summary: Summary, column: str, rows: list[str], path: Path) -> Path:
    import matplotlib.pyplot as plt

    entries = [summary.entries[r, column] for r in rows]
    values = [e.accuracy[0] for e in entries]
    errors = [[v - e.accuracy[1] for v, e in zip(values, entries)],
              [e.accuracy[2] - v for v, e in zip(values, entries)]]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    colors = ["tab:orange" if r == summary.baseline else "tab:blue" for r in rows]
    ax.barh(rows, values, xerr=errors, color=colors, capsize=2)
    ax.invert_yaxis()
    ax.set_xlim(max(0.0, min(e.accuracy[1] for e in entries) - 0.05), min(1.0, max(values) + 0.05))
    ax.set_xlabel("accuracy (95% bootstrap interval)")
    ax.set_title(f"{column}: accuracy per row" + (f" (baseline {summary.baseline} in orange)"
                                                    if summary.baseline else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _heatmap(study: Study, summary: Summary, column: str, path: Path) -> Path:
    """Mean accuracy for each pair of values of the heatmap's two axes (averaged over any other row axes)."""
    import matplotlib.pyplot as plt
    import numpy as np

    if study.spec.heatmap is None:
        raise ValueError("the study spec names no heatmap axes")
    first, second = study.spec.heatmap
    ys, xs = list(study.axes[first]), list(study.axes[second])
    cells: dict[tuple[str, str], list[float]] = {}
    for cell in study.cells:
        entry = summary.entries.get((study.row(cell), column))
        if entry is not None and study.column(cell) == column:
            cells.setdefault((cell.values[first], cell.values[second]), []).append(entry.accuracy[0])
    grid = np.full((len(ys), len(xs)), np.nan)
    for (y, x), values in cells.items():
        grid[ys.index(y), xs.index(x)] = statistics.mean(values)
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 2.5, 0.5 * len(ys) + 1.5))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(xs)), xs, rotation=30, ha="right")
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(second)
    ax.set_ylabel(first)
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_title(f"{column}: {first} x {second}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
