"""How much the command line says: library logs and progress bars off unless GENCLS_DEBUG is set."""

from __future__ import annotations

import os

DEBUG_ENV = "GENCLS_DEBUG"


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """transformers' and datasets' logs and progress bars off (gencls keeps its own bars)."""
    if debug():
        return
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
