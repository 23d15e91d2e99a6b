"""Calibration of label scores: remove a per-label bias from each input's log label distribution.

Every method returns, per input, ``log q(y|x) - b(y)`` where ``log q`` is the log-softmax of the decoder's
scores and ``b`` a per-label bias; the calibrated distribution is the softmax of that. The methods differ in
how ``b`` is estimated:

- ``contextual`` (Zhao et al., 2021) and ``domain`` (Fei et al., 2023): the log of the mean label
  distribution of content-free inputs ("N/A"; or random in-domain words);
- ``batch`` (Zhou et al., 2023): from the inputs themselves, as the mean of their log label distributions
  (the geometric mean: a constant added to one label's score for every input is then removed exactly);
- ``prior``: offsets fitted so that the labels predicted for the fitting inputs follow a target distribution
  (the training split's): the fixed-point iteration of Saerens et al. (2002) on the distribution sharpened to
  temperature ``SHARP`` (0.05), whose mean is then the predicted-label histogram to within a few inputs.
  (Matching the plain mean distribution lets a model with near-uniform probabilities predict the majority
  class for everything.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Rows = Sequence[Sequence[float]]
SHARP = 0.05


def log_softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    total = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - total for v in values]


def mean_distribution(rows: Rows) -> list[float]:
    """The mean over rows of each row's softmax."""
    probs = [[math.exp(v) for v in log_softmax(row)] for row in rows]
    return [sum(col) / len(probs) for col in zip(*probs)]


def bias_of(rows: Rows) -> list[float]:
    """The log of the mean label distribution of ``rows``: the bias contextual and domain calibration remove."""
    return [math.log(max(p, 1e-300)) for p in mean_distribution(rows)]


def batch_bias(rows: Rows) -> list[float]:
    """The mean over ``rows`` of each row's log label distribution: the bias batch calibration removes."""
    logs = [log_softmax(row) for row in rows]
    return [sum(col) / len(logs) for col in zip(*logs)]


def remove(rows: Rows, bias: Sequence[float]) -> list[list[float]]:
    """Each row's log label distribution minus ``bias``."""
    return [[v - b for v, b in zip(log_softmax(row), bias)] for row in rows]


def prior_offsets(rows: Rows, target: Sequence[float], temperature: float = SHARP, iterations: int = 5000,
                  tol: float = 1e-9) -> list[float]:
    """Offsets ``b`` such that the mean of softmax((log q(x) - b) / temperature) over ``rows`` equals
    ``target``."""
    if any(t <= 0 for t in target):
        raise ValueError(f"prior calibration needs every class in the target distribution, got {list(target)}")
    logs = [log_softmax(row) for row in rows]
    bias = [0.0] * len(target)
    for _ in range(iterations):
        mean = mean_distribution([[(v - b) / temperature for v, b in zip(row, bias)] for row in logs])
        step = [temperature * math.log(max(m, 1e-300) / t) for m, t in zip(mean, target)]
        bias = [b + s for b, s in zip(bias, step)]
        if max(abs(s) for s in step) < tol:
            break
    return bias


def domain_texts(texts: Sequence[str], n: int, length: int | None, seed: int) -> list[str]:
    """``n`` content-free inputs of random words drawn from ``texts`` (Fei et al., 2023), each ``length`` words
    long (None: the mean word count of ``texts``)."""
    words = [w for t in texts for w in t.split()]
    if not words:
        raise ValueError("domain calibration needs training texts with words")
    length = length or max(1, round(len(words) / len(texts)))
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=length)) for _ in range(n)]
