"""How much the command line says: library logs and progress bars off unless GENCLS_DEBUG is set."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

DEBUG_ENV = "GENCLS_DEBUG"


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """transformers' and datasets' logs and progress bars off (gencls keeps its own bars), and the libraries'
    notices of their own deprecations, for the whole process (the command line)."""
    if debug():
        return
    import datasets
    import transformers

    _ignore_library_notices()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()


@contextmanager
def library_notices_off() -> Iterator[None]:
    """The libraries' notices of their own deprecations off while the block runs, then the warning filters as
    they were (the Engine API and the estimator leave the caller's process as it was); on with GENCLS_DEBUG."""
    if debug():
        yield
        return
    with warnings.catch_warnings():
        _ignore_library_notices()
        yield


def _ignore_library_notices() -> None:
    """FutureWarning raised inside transformers, TRL, peft or accelerate: a user cannot act on them."""
    for library in ("transformers", "trl", "peft", "accelerate"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=rf"{library}(\.|$)")
    # a model's forward warns from inside torch's Module.__call__ (e.g. a renamed argument's notice)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.nn\.modules\.module$")


@contextmanager
def library_bars(on: bool) -> Iterator[None]:
    """datasets' progress bars (map, filter, cast: TRL's dataset preparation too) and transformers' (loading
    weights) off while the block runs when ``on`` is False (``progress: false``), then as they were."""
    import datasets
    from transformers.utils import logging

    was = datasets.is_progress_bar_enabled(), logging.is_progress_bar_enabled()
    if not on:
        datasets.disable_progress_bars()
        logging.disable_progress_bar()
    try:
        yield
    finally:
        if not on and was[0]:
            datasets.enable_progress_bars()
        if not on and was[1]:
            logging.enable_progress_bar()
