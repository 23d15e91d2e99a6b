"""Choosing the abstention threshold (``predict --min-probability``) on held-out texts: the lowest top-label
probability that keeps the answered texts' accuracy at a target, so that as many texts as possible are answered."""

from __future__ import annotations

from dataclasses import dataclass

from gencls_core.interfaces import Prediction


@dataclass(frozen=True)
class Operating:
    """What a threshold keeps: the share of texts answered and the accuracy on them."""

    threshold: float
    coverage: float
    selective_accuracy: float


def operating_points(gold: list[str], predictions: list[Prediction]) -> list[Operating]:
    """Every distinct threshold worth trying (each answered text's top-label probability), lowest first, with
    what it keeps; texts without a label or probabilities are never answered."""
    scored = sorted(((max(p.probs.values()), p.label == g) for g, p in zip(gold, predictions)
                     if p.label is not None and p.probs), reverse=True)
    points, correct = [], 0
    for kept, (probability, right) in enumerate(scored, 1):
        correct += right
        if kept == len(scored) or scored[kept][0] < probability:  # the last text at this probability
            points.append(Operating(probability, kept / len(gold), correct / kept))
    return points[::-1]


def choose_threshold(gold: list[str], predictions: list[Prediction], precision: float) -> Operating | None:
    """The lowest threshold whose answered texts are at least ``precision`` accurate (the most coverage); None
    when no threshold reaches it."""
    return next((p for p in operating_points(gold, predictions) if p.selective_accuracy >= precision), None)
