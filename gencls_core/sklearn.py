"""A scikit-learn estimator over the engine: a generative classifier in pipelines, ``cross_val_score`` and
``GridSearchCV``, like any other classifier.

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

        given = np.asarray(y, dtype=object)
        if (given.ndim > 1 and given.shape[1] > 1) or any(isinstance(v, (list, tuple, set)) for v in given.ravel()):
            raise UsageError("y holds several labels per text; the estimator fits one label per text so far (for "
                             "multi-label data use `gencls run` with dataset.multi_label: true)")
        texts, labels = _texts(X), list(np.asarray(y).ravel())
        if len(texts) != len(labels) or not texts:
            raise UsageError(f"fit needs as many labels as texts, and at least one: got {len(texts)} texts and "
                             f"{len(labels)} labels")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise UsageError(f"fit needs at least two classes, got {list(self.classes_)}")
        folder = Path(self.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        data = Path(tempfile.mkdtemp(prefix="fit-data-", dir=folder)) / "train.jsonl"
        data.write_text("".join(json.dumps({"text": t, "label": str(v)}) + "\n" for t, v in zip(texts, labels)))
        config = dict(self.config if self.config is not None else load_plugins().default_training())
        if "dataset" in config:
            raise UsageError("GenerativeClassifier's config must not set dataset: fit's texts are the data (set "
                             "the prompt's task sentence with task=...)")
        config.update(dataset={"name": "local", "train": str(data), "test": str(data), "task": self.task},
                      seed=int(self.random_state), output_dir=str(folder), progress=self.progress,
                      splits={**config.get("splits", {}), "test_size": min(CHECK_SIZE, len(texts))})
        with warnings.catch_warnings():  # its check split is training texts on purpose
            warnings.filterwarnings("ignore", message=r".* test examples also appear in the training split",
                                    category=GenclsWarning)
            self.run_dir_ = Engine(config).run().run_dir
        self.predictor_ = Engine.from_run_dir(self.run_dir_).predictor()
        return self

    def predict(self, X: Any) -> np.ndarray:
        by_name = {str(c): c for c in self._fitted()}
        # None: the answer named no class
        labels = [None if p.label is None else by_name.get(p.label) for p in self.predictor_(_texts(X))]
        return np.array(labels, dtype=object if None in labels else self.classes_.dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        """One row per text, one column per class of ``classes_``."""
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


def _texts(X: Any) -> list[str]:
    texts = list(np.asarray(X, dtype=object).ravel())
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise UsageError(f"GenerativeClassifier classifies texts; got {type(bad).__name__} {bad!r}")
    return texts
