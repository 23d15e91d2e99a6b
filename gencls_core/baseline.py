"""The simple baseline a trained model has to beat: TF-IDF (word 1-2 grams) + logistic regression fitted on the
run's training split, its regularisation chosen on the validation split, scored on the test split beside the
run's model with paired bootstrap intervals of the difference."""

from __future__ import annotations

from typing import Any

from gencls_core.interfaces import LabeledData

C_GRID = (0.1, 1.0, 10.0, 100.0)
NAME = "TF-IDF + logistic regression"


def tfidf_predictions(data: LabeledData, split: str = "test",
                      c: float | None = None) -> tuple[list[str], dict[str, Any]]:
    """TF-IDF + logistic regression's predictions for ``split``, with ``C`` given, or chosen by macro-F1 on the
    validation split (10 without one), and what was chosen."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    train = data.splits["train"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform(train["text"])

    def fit(c: float) -> Any:
        return LogisticRegression(C=c, max_iter=2000).fit(x, train["label"])

    chosen: dict[str, Any] = {"C": 10.0 if c is None else c}
    if c is None and "validation" in data.splits:
        validation = data.splits["validation"]
        x_val = vectorizer.transform(validation["text"])
        scores = {c: f1_score(validation["label"], fit(c).predict(x_val), labels=data.labels, average="macro",
                              zero_division=0) for c in C_GRID}
        best = max(scores, key=scores.__getitem__)
        chosen = {"C": best, "validation_f1_macro": round(float(scores[best]), 4)}
    return [str(p) for p in fit(chosen["C"]).predict(vectorizer.transform(data.splits[split]["text"]))], chosen


def compare(data: LabeledData, rows: list[dict[str, Any]], split: str = "test", level: float = 0.95) -> dict[str, Any]:
    """The baseline on ``split`` against a run's predictions ``rows`` (``gold``/``predicted``) of it: its accuracy
    and macro-F1, and the run's model minus the baseline with paired bootstrap intervals. C is chosen on the
    validation split unless that is the split scored (then it is 10)."""
    import numpy as np

    from gencls_core.stats import macro_f1, paired_gain

    predicted, chosen = tfidf_predictions(data, split, 10.0 if split == "validation" else None)
    index = {label: i for i, label in enumerate(data.labels)}
    gold = np.array([index[r["gold"]] for r in rows])
    model = np.array([index.get(r["predicted"], -1) for r in rows])
    base = np.array([index.get(p, -1) for p in predicted])
    k = len(data.labels)
    out: dict[str, Any] = {"name": NAME, **chosen, "accuracy": float((base == gold).mean()),
                           "f1_macro": float(macro_f1(gold, base, k))}
    for metric in ("accuracy", "f1_macro"):
        value, low, high = paired_gain(gold, base, model, k, metric, level)
        out[f"delta_{metric}"] = {"value": round(value, 4), "low": round(low, 4), "high": round(high, 4)}
    return out


def describe(baseline: dict[str, Any]) -> str:
    """One sentence for a report: the baseline's scores and the model's margin over it."""
    def delta(metric: str) -> str:
        d = baseline[f"delta_{metric}"]
        return f"{100 * d['value']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"

    verdict = ("better than it beyond noise" if baseline["delta_f1_macro"]["low"] > 0 else
               "worse than it beyond noise" if baseline["delta_f1_macro"]["high"] < 0 else
               "not distinguishable from it on this test split")
    chosen = "chosen on validation" if "validation_f1_macro" in baseline else "not chosen on validation"
    return (f"{baseline['name']} on the same splits (C {baseline['C']:g}, {chosen}): accuracy "
            f"{baseline['accuracy']:.3f}, macro-F1 {baseline['f1_macro']:.3f}. This model minus it: accuracy "
            f"{delta('accuracy')}, macro-F1 {delta('f1_macro')} (paired bootstrap 95%): {verdict} in macro-F1.")
