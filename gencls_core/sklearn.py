"""A scikit-learn estimator over the engine: a generative classifier in pipelines, ``cross_val_score`` and
``GridSearchCV``, like any other classifier; multi-label with scikit-learn's conventions (``y`` a sequence of
label collections, or a binary indicator matrix; ``predict`` an indicator matrix in ``classes_`` order).

>>> clf = GenerativeClassifier({"trainers": [{"name": "sft", "epochs": 1}]})     # doctest: +SKIP
>>> clf.fit(texts, labels).predict(["A joyous, moving film."])                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from gencls_core.errors import GenclsWarning, UsageError

CHECK_SIZE = 16  # training texts each fit evaluates the trained model on (a sanity check in run.json)


class GenerativeClassifier(ClassifierMixin, BaseEstimator):
    """``fit`` runs gencls on the texts and labels (a normal run directory under ``output_dir``: the config's
    training stages, then an evaluation on up to 16 of the training texts); ``predict`` and ``predict_proba``
    use the trained model, loaded once.

    ``config`` is a run config without the dataset (default: the plugins' ``gencls_default_training``, LoRA SFT
    with the built-ins, of the default model with perplexity decoding); ``task`` the sentence the prompts open
    with (e.g. "Classify the topic of the support ticket."); ``random_state`` is the run's seed.

    Multi-label ``y`` (each text's labels as a list, tuple or set, or a binary indicator matrix): ``classes_`` in
    MultiLabelBinarizer's order (the sorted labels; an indicator matrix's column indices), a tenth of the texts
    held out to choose the labels' probability threshold (``label_sets``), ``predict`` a binary indicator matrix
    and ``predict_proba`` each label's probability.
    """

    def __init__(self, config: dict[str, Any] | None = None, task: str = "Classify the text.",
                 output_dir: str = "runs/sklearn", random_state: int = 0, progress: bool = False) -> None:
        self.config = config
        self.task = task
        self.output_dir = output_dir
        self.random_state = random_state
        self.progress = progress

    def fit(self, X: Any, y: Any) -> GenerativeClassifier:
        from gencls_core.engine import Engine
        from gencls_core.plugins import load_plugins

        texts, sets = _texts(X), _label_sets(y)
        labels: list[Any] = list(np.asarray(y).ravel()) if sets is None else sets[0]
        if len(texts) != len(labels) or not texts:
            raise UsageError(f"fit needs as many labels as texts, and at least one: got {len(texts)} texts and "
                             f"{len(labels)} labels")
        self.multi_label_ = sets is not None
        self.classes_ = np.unique(labels) if sets is None else sets[1]
        if len(self.classes_) < 2:
            raise UsageError(f"fit needs at least two classes, got {list(self.classes_)}")
        folder = Path(self.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        data = Path(tempfile.mkdtemp(prefix="fit-data-", dir=folder)) / "train.jsonl"
        written = [[str(c) for c in v] if self.multi_label_ else str(v) for v in labels]
        data.write_text("".join(json.dumps({"text": t, "label": v}) + "\n" for t, v in zip(texts, written)))
        config = dict(self.config if self.config is not None else load_plugins().default_training())
        if "dataset" in config:
            raise UsageError("GenerativeClassifier's config must not set dataset: fit's texts are the data (set "
                             "the prompt's task sentence with task=...)")
        splits = {**config.get("splits", {}), "test_size": min(CHECK_SIZE, len(texts))}
        if self.multi_label_:  # the label threshold is chosen on held-out texts
            splits.setdefault("validation_size", 0.1)
        config.update(dataset={"name": "local", "train": str(data), "test": str(data), "task": self.task,
                               "multi_label": self.multi_label_},
                      seed=int(self.random_state), output_dir=str(folder), progress=self.progress, splits=splits)
        with warnings.catch_warnings():  # its check split is training texts on purpose
            warnings.filterwarnings("ignore", message=r".* test examples also appear in the training split",
                                    category=GenclsWarning)
            self.run_dir_ = Engine(config).run().run_dir
        self.predictor_ = Engine.from_run_dir(self.run_dir_).predictor()
        return self

    def predict(self, X: Any) -> np.ndarray:
        classes, predictions = self._fitted(), self.predictor_(_texts(X))
        if self.multi_label_:  # a binary indicator matrix in classes_ order
            names = [str(c) for c in classes]
            return np.array([[int(c in (p.labels or [])) for c in names] for p in predictions])
        by_name = {str(c): c for c in classes}
        # None: the answer named no class
        labels = [None if p.label is None else by_name.get(p.label) for p in predictions]
        return np.array(labels, dtype=object if None in labels else self.classes_.dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        """One row per text, one column per class of ``classes_`` (multi-label: each label's probability, as the
        decoder gives it; a text gets the labels whose probability reaches the run's threshold)."""
        classes = self._fitted()
        rows = []
        for p in self.predictor_(_texts(X)):
            if p.probs is None:
                raise UsageError("predict_proba needs a decoder that gives probabilities (perplexity, or "
                                 "generate with constrained: true)")
            rows.append([p.probs.get(str(c), 0.0) for c in classes])
        return np.array(rows)

    def _fitted(self) -> np.ndarray:
        if not hasattr(self, "predictor_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this GenerativeClassifier is not fitted yet; call fit first")
        return self.classes_


def _label_sets(y: Any) -> tuple[list[list[Any]], np.ndarray] | None:
    """Multi-label ``y`` as each text's labels and the classes in MultiLabelBinarizer's order; None for one label
    per text."""
    given = np.asarray(y, dtype=object)
    if given.ndim > 1 and given.shape[1] > 1:  # a binary indicator matrix: its columns are the classes
        if not np.isin(given, (0, 1)).all():
            raise UsageError("a 2-D y is read as a binary indicator matrix (texts x labels) and holds values other "
                             "than 0 and 1")
        return [[j for j in range(given.shape[1]) if row[j]] for row in given], np.arange(given.shape[1])
    if not any(isinstance(v, (list, tuple, set, frozenset)) for v in given.ravel()):
        return None
    sets = [list(v) if isinstance(v, (list, tuple, set, frozenset)) else [v] for v in y]
    return [sorted(set(s), key=str) for s in sets], np.array(sorted({x for s in sets for x in s}, key=str))


def _texts(X: Any) -> list[str]:
    texts = list(np.asarray(X, dtype=object).ravel())
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise UsageError(f"GenerativeClassifier classifies texts; got {type(bad).__name__} {bad!r}")
    return texts
