"""Choosing the abstention threshold (``predict --min-probability``, or one per label for ``--thresholds``) on
held-out texts: the lowest top-label probability that keeps the answered texts' accuracy (a label's precision)
at a target, so that as many texts as possible are answered, or the highest that still answers a target share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


def choose_threshold(gold: list[str], predictions: list[Prediction], precision: float | None = None,
                     coverage: float | None = None) -> Operating | None:
    """The lowest threshold whose answered texts are at least ``precision`` accurate (the most coverage), or, with
    ``coverage``, the highest that still answers that share of the texts (the most accuracy); None when no
    threshold reaches it."""
    points = operating_points(gold, predictions)
    if coverage is not None:
        return next((p for p in reversed(points) if p.coverage >= coverage), None)
    if precision is None:
        raise ValueError("choose_threshold needs a precision or a coverage")
    return next((p for p in points if p.selective_accuracy >= precision), None)


def choose_class_thresholds(gold: list[str], predictions: list[Prediction], precision: float | None = None,
                            coverage: float | None = None) -> dict[str, Operating | None]:
    """For each predicted label, ``choose_threshold`` on that label's predictions alone: the lowest threshold
    whose answers of that label are at least ``precision`` correct, or the highest that answers ``coverage`` of
    them; None where none reaches it. A label never predicted is absent."""
    predicted: dict[str, tuple[list[str], list[Prediction]]] = {}
    for g, p in zip(gold, predictions):
        if p.label is not None and p.probs:
            golds, preds = predicted.setdefault(p.label, ([], []))
            golds.append(g)
            preds.append(p)
    return {label: choose_threshold(golds, preds, precision, coverage)
            for label, (golds, preds) in sorted(predicted.items())}


FEW = 10  # a label predicted fewer times than this gets a threshold marked as a noisy choice


def per_label(predictions: list[Prediction], chosen: dict[str, Operating | None], overall: Operating | None,
              labels: list[str], goal: str, split: str) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """``{label: threshold}`` from ``choose_class_thresholds``' choice, and a row saying why for each: a label
    that never reaches ``goal`` gets 1.0 (answered only when certain), a label never predicted the ``overall``
    threshold (1.0 without one)."""
    thresholds, rows = {}, []
    for label in labels:
        n = sum(p.label == label for p in predictions)
        point = chosen.get(label)
        if point is not None:
            thresholds[label] = point.threshold
            why = f"answers {point.coverage:.1%} of its {n} predictions, {point.selective_accuracy:.3f} correct"
            why += " (few predictions: a noisy choice)" if n < FEW else ""
        elif label in chosen:
            thresholds[label], why = 1.0, f"no threshold keeps {goal} among its {n} predictions"
        else:
            thresholds[label] = overall.threshold if overall is not None else 1.0
            why = f"never predicted on the {split} split: the overall threshold"
        rows.append((label, f"{thresholds[label]:.3f}  {why}"))
    return thresholds, rows


def read_thresholds(path: Path, labels: list[str]) -> dict[str, float]:
    """``{label: threshold}`` from a JSON file (``gencls threshold --per-class --out``), each a known label and a
    probability."""
    from gencls_core.errors import UsageError
    from gencls_core.inference import check_threshold_labels

    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"--thresholds {path}: not a readable JSON file ({err})") from None
    if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
                                              for v in value.values()):
        raise UsageError(f"--thresholds {path}: must map labels to probabilities in [0, 1], like "
                         f'{{"{labels[0]}": 0.8}}')
    check_threshold_labels(value, labels, f"--thresholds {path}")
    return {str(k): float(v) for k, v in value.items()}
