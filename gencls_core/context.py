"""What components see of a run while it happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gencls_core.interfaces import LabeledData, LabelScheme, LoadedModel, PromptStrategy
    from gencls_core.plugins import Plugins


@dataclass
class RunContext:
    """Shared state of one run. Trainers read ``data`` and may replace ``lm``."""

    seed: int
    device: str
    run_dir: Path | None
    plugins: Plugins
    progress: bool = True
    data: LabeledData | None = None
    lm: LoadedModel | None = None
    train_labels: LabelScheme | None = None
    train_prompt: PromptStrategy | None = None
    render: Callable[[str], str] | None = None  # text -> rendered inference prompt, set while decoding


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
