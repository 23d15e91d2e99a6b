"""Batching with a progress bar, shared by the decoders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def batches(items: Sequence[T], size: int, *, desc: str, progress: bool) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items``, advancing a progress bar by examples."""
    with tqdm(total=len(items), desc=desc, unit="ex", disable=not progress, dynamic_ncols=True) as bar:
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            yield chunk
            bar.update(len(chunk))
