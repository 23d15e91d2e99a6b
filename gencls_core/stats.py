"""Bootstrap confidence intervals: paired differences on the same test examples, metrics averaged over seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def seed_bootstrap(stats: Sequence[Callable[[np.ndarray], np.ndarray]], sizes: Sequence[int], *,
                   resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """A statistic averaged over seeds, and its percentile interval.

    ``stats[s]`` maps a ``(draws, n)`` array of example indices into seed ``s``'s test split (``sizes[s]``
    examples) to one value per draw (accuracy, macro-F1, or a paired difference of two methods on the same
    indices). Each seed's examples are resampled with replacement on their own; the draws are averaged over seeds.
    """
    if not stats or len(stats) != len(sizes) or min(sizes) == 0:
        raise ValueError(f"need one statistic per seed and non-empty test splits, got {len(stats)} and {sizes}")
    rng = np.random.default_rng(seed)
    value = float(np.mean([stat(np.arange(n)[None])[0] for stat, n in zip(stats, sizes)]))
    draws = np.mean([stat(rng.integers(0, n, size=(resamples, n))) for stat, n in zip(stats, sizes)], axis=0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return value, float(low), float(high)


def macro_f1(gold: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Macro-F1 over the classes ``0..classes-1`` that occur in ``gold`` or ``predicted`` (scikit-learn's
    ``f1_score(average="macro")`` without ``labels``), along the last axis; ``predicted`` is -1 where there is
    no label. A class the sample neither holds nor predicts is left out rather than scored 0, so a split missing
    some of many classes, or a bootstrap resample missing a rare one, is not pulled toward zero."""
    scores, present = [], []
    for c in range(classes):
        g, p = gold == c, predicted == c
        tp, fp, fn = (g & p).sum(-1), (~g & p).sum(-1), (g & ~p).sum(-1)
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / np.maximum(denominator, 1))
        present.append(denominator > 0)
    held = np.sum(present, axis=0)
    return np.sum(scores, axis=0) / np.maximum(held, 1)


def paired_gain(gold: np.ndarray, old: np.ndarray, new: np.ndarray, classes: int, metric: str,
                level: float = 0.95) -> tuple[float, float, float]:
    """``new`` minus ``old`` predictions (class indices, -1 for none) in ``metric`` (``accuracy`` or
    ``f1_macro``) on the same examples ``gold``, with its paired bootstrap interval."""
    if metric == "accuracy":
        stat = lambda ix: (new[ix] == gold[ix]).mean(-1) - (old[ix] == gold[ix]).mean(-1)  # noqa: E731
    else:
        stat = lambda ix: macro_f1(gold[ix], new[ix], classes) - macro_f1(gold[ix], old[ix], classes)  # noqa: E731
    return seed_bootstrap([stat], [len(gold)], level=level)


def set_f1(gold: np.ndarray, predicted: np.ndarray, average: str) -> np.ndarray:
    """Micro- or macro-F1 of 0/1 label-set matrices (examples x labels) along the example axis, for a batch of
    resampled index rows (``gold[ix]``: draws x examples x labels); a label never seen nor predicted scores 0."""
    g, p = gold.astype(bool), predicted.astype(bool)
    tp, fp, fn = (g & p).sum(-2), (~g & p).sum(-2), (g & ~p).sum(-2)  # draws x labels
    if average == "micro":
        tp, fp, fn = tp.sum(-1), fp.sum(-1), fn.sum(-1)
        return 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return np.mean(np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0), axis=-1)


def paired_set_gain(gold: np.ndarray, old: np.ndarray, new: np.ndarray, average: str,
                    level: float = 0.95) -> tuple[float, float, float]:
    """``new`` minus ``old`` label-set predictions (0/1 matrices) in micro- or macro-F1 on the same examples
    ``gold``, with its paired bootstrap interval."""
    stat = lambda ix: set_f1(gold[ix], new[ix], average) - set_f1(gold[ix], old[ix], average)  # noqa: E731
    return seed_bootstrap([stat], [len(gold)], resamples=1000, level=level)
