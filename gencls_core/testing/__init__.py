"""Helpers for testing gencls and gencls plugins: tiny random models and tiny datasets built on the spot.

Use the pytest fixtures with ``pytest_plugins = ["gencls_core.testing.fixtures"]``.
"""

from gencls_core.testing.tiny import CHATML_TEMPLATE, make_tiny_model, write_tiny_csv

__all__ = ["CHATML_TEMPLATE", "make_tiny_model", "write_tiny_csv"]
