"""gencls: generative text classification with LLMs, as a plugin-based engine.

The names below are imported on first use, so ``import gencls_core.<module>`` loads only that module (and
importing this package does not import torch; models load only when a run needs them).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "Engine": "engine", "RunResult": "results", "GenclsError": "errors", "hookimpl": "hookspecs",
    "RunConfig": "config", "SplitConfig": "config",
    **{name: "interfaces" for name in (
        "Component", "ComponentSpec", "DatasetSource", "Decoder", "Evaluator", "LabeledData", "LabelScheme",
        "LoadedModel", "ModelSource", "Options", "Prediction", "PromptStrategy", "RewardFunc", "RunContext",
        "StageResult", "Trainer")},
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'gencls_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gencls_core.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
