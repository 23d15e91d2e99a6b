"""Accuracy and macro-F1. A prediction of None (no valid label) is wrong for every class."""

from __future__ import annotations

from gencls_core.interfaces import Evaluator

NO_LABEL = "\x00none"


class Accuracy(Evaluator):
    """Fraction of examples whose predicted label equals the gold label."""

    name = "accuracy"

    def evaluate(self, gold, predicted, labels):
        return {"accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0}


class MacroF1(Evaluator):
    """F1 per class, averaged with equal weight (unparseable answers are misses)."""

    name = "f1"

    def evaluate(self, gold, predicted, labels):
        from sklearn.metrics import f1_score

        pred = [NO_LABEL if p is None else p for p in predicted]
        return {"f1_macro": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0))}
