"""What components see of a run while it happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gencls_core.config import TruncationConfig
    from gencls_core.interfaces import LabeledData, LabelScheme, LoadedModel, PromptStrategy
    from gencls_core.plugins import Plugins
    from gencls_core.rewards import CheckedReward


@dataclass
class RunContext:
    """Shared state of one run. Trainers read ``data``, the training prompt and labels and ``rewards``, write
    checkpoints under ``stage_dir``, continue from the last one when ``resume`` is set, and may replace ``lm``."""

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
    rewards: list[CheckedReward] = field(default_factory=list)
    stage_dir: Path | None = None  # the current training stage's folder
    resume: bool = False  # continue the stage from its last checkpoint when there is one
    truncation: TruncationConfig | None = None  # how over-long prompts are cut (None: the defaults)
    truncated: dict[str, int] = field(default_factory=dict)  # split -> texts cut for the last training stage


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
