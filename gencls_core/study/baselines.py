"""Discriminative baselines on a cell's own splits: TF-IDF + logistic regression (scikit-learn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gencls_core.results import read_jsonl, write_jsonl


def tfidf_predictions(config: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    """Fit TF-IDF (word 1-2 grams) + logistic regression on the train split of ``config``'s data and predict the
    split its runs evaluate; rows as in a run's ``predictions.jsonl``, cached in ``out``."""
    if out.is_file():
        return read_jsonl(out)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from gencls_core.engine import Engine

    engine = Engine({**config, "progress": False})
    splits = engine.dataset().splits
    evaluated = splits[engine.config.splits.evaluate]
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=2000, C=10.0))
    model.fit(splits["train"]["text"], splits["train"]["label"])
    rows = [{"text": t, "gold": g, "predicted": str(p), "correct": g == p}
            for t, g, p in zip(evaluated["text"], evaluated["label"], model.predict(evaluated["text"]))]
    write_jsonl(out, rows)
    return rows
