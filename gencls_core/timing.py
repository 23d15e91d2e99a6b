"""Wall-clock accounting of a run's phases (``run.json``'s ``timings``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Add the seconds spent in the ``with`` block (even one that raises) to ``timings[key]``."""
    start = time.time()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.time() - start, 3)
