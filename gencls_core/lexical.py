"""Lexical evidence: TF-IDF (word 1-2 grams) + logistic regression fitted on the training split, which reads every
word of a text however much of it the prompt keeps, blended into the decoder's label scores:

    score(y | x) = (1 - w) * log p_decoder(y | x) + w * log p_bag(y | x)

(``log p_decoder``: the log-softmax of the decoder's scores). ``lexical.weight`` (w) is 0 unless set or chosen
by a recipe on the validation split. Nothing fitted is stored: wherever the run's model classifies (predict,
serve, the estimator) the bag is fitted again from the same training split, so a run directory stays data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gencls_core.calibration import log_softmax

C_GRID = (0.1, 1.0, 10.0, 100.0)
FLOOR = 1e-12  # the bag's probability of a class it never saw in training


class Bag:
    """TF-IDF of the training texts and a logistic regression on it, ``C`` given, or chosen by macro-F1 on
    ``validation`` (texts, labels) from ``C_GRID`` (10 without one); ``chosen`` says which."""

    def __init__(self, texts: Sequence[str], labels: Sequence[Any], c: float | None = None,
                 validation: tuple[Sequence[str], Sequence[Any]] | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score

        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x = self.vectorizer.fit_transform(list(texts))

        def fit(c: float) -> Any:
            return LogisticRegression(C=c, max_iter=2000).fit(x, list(labels))

        self.chosen: dict[str, Any] = {"C": 10.0 if c is None else c}
        if c is None and validation is not None:
            x_val = self.vectorizer.transform(list(validation[0]))
            scores = {c: f1_score(list(validation[1]), fit(c).predict(x_val), average="macro", zero_division=0)
                      for c in C_GRID}
            best = max(scores, key=scores.__getitem__)
            self.chosen = {"C": best, "validation_f1_macro": round(float(scores[best]), 4)}
        self.model = fit(self.chosen["C"])

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(p) for p in self.model.predict(self.vectorizer.transform(list(texts)))]

    def log_probs(self, texts: Sequence[str], classes: Sequence[str]) -> list[list[float]]:
        """Each text's log probability of each of ``classes``, in that order."""
        probs = self.model.predict_proba(self.vectorizer.transform(list(texts)))
        column = {str(c): j for j, c in enumerate(self.model.classes_)}
        return [[math.log(max(float(row[column[c]]), FLOOR) if c in column else FLOOR) for c in classes]
                for row in probs]


def blend(scores: Sequence[Sequence[float]], bag: Sequence[Sequence[float]], weight: float) -> list[list[float]]:
    """Each row's log label distribution (the log-softmax of ``scores``) weighted ``1 - weight`` plus the bag's
    log probabilities weighted ``weight``."""
    return [[(1 - weight) * s + weight * b for s, b in zip(log_softmax(row), logs)] for row, logs in zip(scores, bag)]


def contribution(rows: Sequence[dict[str, Any]], bag: Sequence[Sequence[float]], weight: float,
                 classes: Sequence[str], level: float = 0.95) -> dict[str, Any]:
    """What the bag of words changed in a run's evaluated ``rows`` (blended ``scores``; ``bag``: its log
    probabilities for the same texts): the kept model's own predictions, recovered as the argmax of (blend - w *
    log p_bag) / (1 - w), their accuracy and macro-F1, and the blend minus them with paired bootstrap intervals."""
    import numpy as np

    from gencls_core.stats import macro_f1, paired_gain

    gold = np.array([list(classes).index(r["gold"]) for r in rows])
    blended = np.array([[r["scores"][c] for c in classes] for r in rows])
    alone, both = ((blended - weight * np.array(bag)) / (1 - weight)).argmax(1), blended.argmax(1)
    out: dict[str, Any] = {"weight": weight, "model_accuracy": round(float((alone == gold).mean()), 4),
                           "model_f1_macro": round(float(macro_f1(gold, alone, len(classes))), 4)}
    for metric in ("accuracy", "f1_macro"):
        value, low, high = paired_gain(gold, alone, both, len(classes), metric, level)
        out[f"delta_{metric}"] = {"value": round(value, 4), "low": round(low, 4), "high": round(high, 4)}
    return out


def describe(lexical: dict[str, Any]) -> str:
    """For a report: what the bag of words added to the kept model."""
    def points(d: dict[str, float]) -> str:
        return f"{100 * d['value']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"

    return (f"The bag of words (lexical.weight {lexical['weight']}) against the kept model alone (accuracy "
            f"{lexical['model_accuracy']:.3f}, macro-F1 {lexical['model_f1_macro']:.3f}): accuracy "
            f"{points(lexical['delta_accuracy'])}, macro-F1 {points(lexical['delta_f1_macro'])} (paired bootstrap "
            f"95%).")
