"""The simple baseline a trained model has to beat: TF-IDF (word 1-2 grams) + logistic regression fitted on the
run's training split, its regularisation chosen on the validation split, scored on the test split beside the
run's model with paired bootstrap intervals of the difference. Multi-label data: one-vs-rest, a classifier per
label, compared in micro- and macro-F1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gencls_core import lexical
from gencls_core.interfaces import LabeledData
from gencls_core.lexical import C_GRID, Bag

NAME = "TF-IDF + logistic regression"


def tfidf_predictions(data: LabeledData, split: str = "test",
                      c: float | None = None) -> tuple[list[str], dict[str, Any]]:
    """TF-IDF + logistic regression's predictions for ``split``, with ``C`` given, or chosen by macro-F1 on the
    validation split (10 without one), and what was chosen."""
    train, validation = data.splits["train"], data.splits.get("validation")
    bag = Bag(train["text"], train["label"], c,
              (validation["text"], validation["label"]) if validation is not None else None)
    return bag.predict(data.splits[split]["text"]), bag.chosen


def tfidf_sets(data: LabeledData, split: str = "test", c: float | None = None) -> tuple[Any, dict[str, Any]]:
    """One-vs-rest TF-IDF + logistic regression's label sets for ``split`` (a 0/1 matrix in ``data.labels``
    order), ``C`` given or chosen by micro-F1 on the validation split (10 without one); a label every training
    text has, or none has, is predicted for every text, or for none."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    train, binarizer = data.splits["train"], MultiLabelBinarizer(classes=data.labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x, y = vectorizer.fit_transform(train["text"]), binarizer.fit_transform(train["label"])
    varies = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < y.shape[0]]

    def predict(c: float, texts: list[str]) -> Any:
        out = np.tile(y[:1] if len(y) else np.zeros((1, len(data.labels)), int), (len(texts), 1))
        if varies:
            model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)).fit(x, y[:, varies])
            out[:, varies] = model.predict(vectorizer.transform(texts))
        return out

    chosen: dict[str, Any] = {"C": 10.0 if c is None else c}
    if c is None and "validation" in data.splits:
        validation = data.splits["validation"]
        gold = binarizer.transform(validation["label"])
        scores = {c: f1_score(gold, predict(c, validation["text"]), average="micro", zero_division=0)
                  for c in C_GRID}
        best = max(scores, key=scores.__getitem__)
        chosen = {"C": best, "validation_f1_micro": round(float(scores[best]), 4)}
    return predict(chosen["C"], data.splits[split]["text"]), chosen


def compare(data: LabeledData, rows: list[dict[str, Any]], split: str = "test", level: float = 0.95) -> dict[str, Any]:
    """The baseline on ``split`` against a run's predictions ``rows`` (``gold``/``predicted``) of it: its accuracy
    and macro-F1, and the run's model minus the baseline with paired bootstrap intervals. C is chosen on the
    validation split unless that is the split scored (then it is 10)."""
    import numpy as np

    from gencls_core.stats import macro_f1, paired_gain

    if data.multi_label:
        return _compare_sets(data, rows, split, level)
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


def with_texts(data: LabeledData, cut: Callable[[list[str]], list[str]]) -> LabeledData:
    """``data`` with every split's texts replaced by ``cut(texts)``."""
    import dataclasses

    splits = {name: part.remove_columns("text").add_column("text", cut(list(part["text"])))
              for name, part in data.splits.items()}
    return dataclasses.replace(data, splits=splits)


def compare_at_budget(data: LabeledData, rows: list[dict[str, Any]], cut: Callable[[list[str]], list[str]],
                      split: str = "test", level: float = 0.95) -> dict[str, Any]:
    """``compare`` with the baseline reading only ``cut(texts)`` of every split's texts (what the model's prompts
    keep of each): whether a loss to the baseline is the text cut or the model."""
    out = compare(with_texts(data, cut), rows, split, level)
    return {**out, "name": f"{out['name']} reading only what the prompts keep of each text"}


def _compare_sets(data: LabeledData, rows: list[dict[str, Any]], split: str, level: float) -> dict[str, Any]:
    """``compare`` for multi-label data: micro- and macro-F1 of the one-vs-rest baseline and the gains."""
    from sklearn.preprocessing import MultiLabelBinarizer

    from gencls_core.stats import paired_set_gain, set_f1

    base, chosen = tfidf_sets(data, split, 10.0 if split == "validation" else None)
    binarizer = MultiLabelBinarizer(classes=data.labels)
    gold = binarizer.fit_transform([r["gold"] for r in rows])
    model = binarizer.transform([r["predicted"] or [] for r in rows])
    out: dict[str, Any] = {"name": f"{NAME}, one-vs-rest", **chosen}
    for average in ("micro", "macro"):
        out[f"f1_{average}"] = float(set_f1(gold[None], base[None], average)[0])
        value, low, high = paired_set_gain(gold, base, model, average, level)
        out[f"delta_f1_{average}"] = {"value": round(value, 4), "low": round(low, 4), "high": round(high, 4)}
    return out


def sentences(metrics: dict[str, Any], n: int) -> list[str]:
    """What a report and the CLI say of the baselines in a run's ``metrics`` (``n`` texts evaluated), and of the
    bag of words blended into the model."""
    said = [describe(metrics["baseline"])] if metrics.get("baseline") else []
    if metrics.get("baseline_at_budget"):
        said.append(describe_at_budget(metrics["baseline"], metrics["baseline_at_budget"], metrics["truncated"], n))
    if metrics.get("lexical"):
        said.append(lexical.describe(metrics["lexical"]))
    return said


def describe_at_budget(whole: dict[str, Any], at_budget: dict[str, Any], truncated: int, n: int) -> str:
    """For a report: the baseline on the texts as cut, and whether the cut explains a loss to it."""
    said = f"{truncated} of {n} texts were cut to fit the prompt. {describe(at_budget)}"
    if whole["delta_f1_macro"]["high"] < 0 <= at_budget["delta_f1_macro"]["high"]:
        said += (" The cut texts explain the loss to the baseline on whole texts: let the model read more of each "
                 "(truncation.max_prompt_tokens, or long_text.policy chunks or select).")
    return said


def describe(baseline: dict[str, Any]) -> str:
    """One sentence for a report: the baseline's scores and the model's margin over it."""
    def delta(metric: str) -> str:
        d = baseline[f"delta_{metric}"]
        return f"{100 * d['value']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"

    verdict = ("better than it beyond noise" if baseline["delta_f1_macro"]["low"] > 0 else
               "worse than it beyond noise" if baseline["delta_f1_macro"]["high"] < 0 else
               "not distinguishable from it on this test split")
    chosen = "chosen on validation" if any(k.startswith("validation_") for k in baseline) else \
        "not chosen on validation"
    first, name = ("f1_micro", "micro-F1") if "f1_micro" in baseline else ("accuracy", "accuracy")
    return (f"{baseline['name']} on the same splits (C {baseline['C']:g}, {chosen}): {name} "
            f"{baseline[first]:.3f}, macro-F1 {baseline['f1_macro']:.3f}. This model minus it: {name} "
            f"{delta(first)}, macro-F1 {delta('f1_macro')} (paired bootstrap 95%): {verdict} in macro-F1.")
