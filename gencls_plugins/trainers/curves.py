"""Training curves (loss, evaluation loss, reward, the validation metric a stage chose on) from a transformers
log history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CURVES = ("loss", "eval_loss", "reward")


def plot_curves(history: list[dict[str, Any]], path: Path, chosen: tuple[str, int] | None = None) -> Path | None:
    """One panel per logged quantity against the step; with ``chosen`` (a validation metric and the step the
    stage kept), that metric's panel too, the step marked. None when nothing was logged."""
    keys = [*CURVES, *([chosen[0]] if chosen else [])]
    series = {k: [(h["step"], h[k]) for h in history if h.get(k) is not None and "step" in h] for k in keys}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3), squeeze=False)
    for ax, (key, points) in zip(axes[0], series.items()):
        ax.plot([s for s, _ in points], [v for _, v in points], marker=".")
        ax.set_xlabel("step")
        ax.set_title(key)
        if chosen and key == chosen[0]:
            ax.axvline(chosen[1], color="grey", linestyle="--", label=f"kept: step {chosen[1]}")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
