"""Helpers for testing gencls and gencls plugins: contract checks, tiny random models and tiny datasets.

Use the pytest fixtures with ``pytest_plugins = ["gencls_core.testing.fixtures"]``.
"""

from gencls_core.testing.contracts import (
    check_component,
    check_dataset,
    check_decoder,
    check_evaluator,
    check_label_scheme,
    check_prompt_strategy,
    check_reward_func,
)
from gencls_core.testing.tiny import CHATML_TEMPLATE, make_tiny_model, write_tiny_csv

__all__ = [
    "CHATML_TEMPLATE", "check_component", "check_dataset", "check_decoder", "check_evaluator",
    "check_label_scheme", "check_prompt_strategy", "check_reward_func", "make_tiny_model", "write_tiny_csv",
]
