"""Paired bootstrap confidence intervals for accuracy differences on the same test examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def paired_bootstrap(base: Sequence[Sequence[bool]], other: Sequence[Sequence[bool]], *, resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean accuracy difference ``other - base`` and its percentile interval.

    ``base[s][i]`` / ``other[s][i]``: whether run ``s`` (a seed) got test example ``i`` right; every run reads
    the same examples. Examples are resampled with replacement, the same indices for every seed, and the
    difference is averaged over the seeds.
    """
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1] == 0:
        raise ValueError(f"need two equal non-empty seeds x examples tables, got shapes {a.shape} and {b.shape}")
    diff = (b - a).mean(0)
    rng = np.random.default_rng(seed)
    draws = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)
