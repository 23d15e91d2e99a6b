"""GenerativeClassifier: a scikit-learn classifier over the engine (tiny model, keyword data)."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from gencls_core.errors import UsageError
from gencls_core.sklearn import GenerativeClassifier
from gencls_core.testing.tiny import tiny_texts

SFT = {"trainers": [{"name": "sft", "max_steps": 6, "learning_rate": 1e-2, "report_to": ["none"]}]}


@pytest.fixture
def clf(tiny_model_dir, tmp_path):
    return GenerativeClassifier({**SFT, "model": {"name": "hf", "path": str(tiny_model_dir)}},
                                task="Classify the tone of the review.", output_dir=str(tmp_path / "runs"))


@pytest.mark.parametrize("check", [check_parameters_default_constructible, check_no_attributes_set_in_init,
                                   check_get_params_invariance, check_set_params])
def test_scikit_learn_estimator_checks_that_apply_to_a_text_classifier(check):
    check("GenerativeClassifier", GenerativeClassifier())


def test_fit_predict_and_probabilities_with_integer_labels(clf):
    rows = tiny_texts(40)
    texts, labels = [t for t, _ in rows], np.array([1 if c == "positive" else 0 for _, c in rows])
    with pytest.raises(NotFittedError):
        clf.predict(texts[:2])
    clf.fit(texts, labels)
    assert list(clf.classes_) == [0, 1] and clf.run_dir_.is_dir()
    assert json.loads((clf.run_dir_ / "run.json").read_text())["data"]["task"] == "Classify the tone of the review."
    proba = clf.predict_proba(texts)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    predicted = clf.predict(texts)
    assert predicted.dtype == labels.dtype and set(predicted) <= {0, 1}
    assert list(predicted) == list(clf.classes_[proba.argmax(1)])
    assert clf.score(texts, labels) == np.mean(predicted == labels)


def test_cross_val_score_clones_and_fits_each_fold(clf):
    rows = tiny_texts(24)
    scores = cross_val_score(clone(clf), [t for t, _ in rows], [c for _, c in rows], cv=2)
    assert scores.shape == (2,) and all(0 <= s <= 1 for s in scores)


def test_bad_input_is_refused(clf):
    with pytest.raises(UsageError, match="as many labels as texts"):
        clf.fit(["a", "b"], ["x"])
    with pytest.raises(UsageError, match="at least two classes"):
        clf.fit(["a", "b"], ["x", "x"])
    with pytest.raises(UsageError, match="classifies texts; got int"):
        clf.fit([1, 2], ["x", "y"])
    with pytest.raises(UsageError, match="must not set dataset"):
        GenerativeClassifier({"dataset": "bbc-news"}).fit(["a", "b"], ["x", "y"])


def test_multi_label_y_fits_a_multi_label_run_and_predicts_an_indicator_matrix(clf):
    from sklearn.preprocessing import MultiLabelBinarizer

    from gencls_core.sklearn import _label_sets

    rows = tiny_texts(40)
    texts = [t for t, _ in rows]
    y = [[c] if i % 3 else [c, "long"] for i, (_, c) in enumerate(rows)]  # a third of the texts get two labels
    clf.fit(texts, y)
    assert list(clf.classes_) == list(MultiLabelBinarizer().fit(y).classes_) == ["long", "negative", "positive"]
    assert json.loads((clf.run_dir_ / "run.json").read_text())["data"]["multi_label"]
    predicted, proba = clf.predict(texts[:5]), clf.predict_proba(texts[:5])
    assert predicted.shape == proba.shape == (5, 3) and set(predicted.ravel()) <= {0, 1}
    indicator = MultiLabelBinarizer().fit_transform(y)
    sets, classes = _label_sets(indicator)
    assert list(classes) == [0, 1, 2] and sets == [[j for j in range(3) if row[j]] for row in indicator]
    assert _label_sets(["a", "b"]) is None  # one label per text
    with pytest.raises(UsageError, match="binary indicator matrix"):
        clf.fit(texts[:2], [[0, 2], [1, 0]])
