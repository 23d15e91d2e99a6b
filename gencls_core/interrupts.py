"""SIGTERM (from ``timeout``, schedulers, container stops, a parent study) interrupts work as Ctrl-C does, so
a run records itself ``interrupted`` and can be resumed instead of being left ``running``."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

import click


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt("SIGTERM")``."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def exit_on_interrupt(what: str, hint: Callable[[], str]) -> Iterator[None]:
    """A command's block: on Ctrl-C or SIGTERM print ``<what>interrupted[ by SIGTERM]<hint()>`` and exit 130 / 143."""
    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt as err:
        click.echo(f"{what}interrupted{f' by {err}' if str(err) else ''}{hint()}", err=True)
        sys.exit(143 if str(err) == "SIGTERM" else 130)
