"""gencls: generative text classification with LLMs, as a plugin-based engine.

Importing this package does not import torch; models load only when a run needs them.
"""

from gencls_core.config import ComponentSpec, RunConfig, SplitConfig
from gencls_core.engine import Engine
from gencls_core.errors import GenclsError
from gencls_core.hookspecs import hookimpl
from gencls_core.interfaces import (
    Component,
    DatasetSource,
    Decoder,
    Evaluator,
    LabeledData,
    LabelScheme,
    LoadedModel,
    ModelSource,
    Options,
    Prediction,
    PromptStrategy,
    RewardFunc,
    Trainer,
)
from gencls_core.results import RunResult

__all__ = [
    "Component", "ComponentSpec", "DatasetSource", "Decoder", "Engine", "Evaluator", "GenclsError",
    "LabelScheme", "LabeledData", "LoadedModel", "ModelSource", "Options", "Prediction", "PromptStrategy",
    "RewardFunc", "RunConfig", "RunResult", "SplitConfig", "Trainer", "hookimpl",
]
