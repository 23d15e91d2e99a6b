"""Training curves (training and validation loss in one panel, reward, the validation metric a stage chose on)
from a transformers log history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# panel title -> (legend label, log key) of each line it draws
PANELS: dict[str, tuple[tuple[str, str], ...]] = {"loss": (("train", "loss"), ("validation", "eval_loss")),
                                                   "reward": (("train", "reward"),)}


def curve_points(history: list[dict[str, Any]], chosen: tuple[str, int] | None = None
                 ) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Panel -> line -> (step, value) points of every quantity logged; with ``chosen``, the metric's own panel."""
    panels = {**PANELS, **({chosen[0]: (("validation", chosen[0]),)} if chosen else {})}
    drawn = {title: {label: [(h["step"], h[key]) for h in history if h.get(key) is not None and "step" in h]
                     for label, key in lines} for title, lines in panels.items()}
    return {title: {label: points for label, points in lines.items() if points}
            for title, lines in drawn.items() if any(lines.values())}


def plot_curves(history: list[dict[str, Any]], path: Path, chosen: tuple[str, int] | None = None) -> Path | None:
    """One panel per logged quantity against the step (training and validation loss together); with ``chosen``
    (a validation metric and the step the stage kept), that metric's panel too, the step marked. None when
    nothing was logged."""
    panels = curve_points(history, chosen)
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels.items()):
        for label, points in lines.items():
            ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=label)
        ax.set_xlabel("step")
        ax.set_title(title)
        if chosen and title == chosen[0]:
            ax.axvline(chosen[1], color="grey", linestyle="--", label=f"kept: step {chosen[1]}")
        if len(lines) > 1 or (chosen and title == chosen[0]):
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
