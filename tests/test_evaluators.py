"""Every metric against values computed by hand, and the report with its figures."""

import pytest

from gencls_core.interfaces import Prediction
from gencls_plugins.evaluators.metrics import F1, Accuracy, Calibration, Confusion, Coverage, PerClass

LABELS = ["a", "b", "c"]
GOLD = ["a", "a", "a", "b", "b", "c"]
# predictions: a a b | b (none) | a
PRED = [Prediction("a", probs={"a": .9, "b": .05, "c": .05}), Prediction("a", probs={"a": .6, "b": .3, "c": .1}),
        Prediction("b", probs={"a": .3, "b": .65, "c": .05}), Prediction("b", probs={"a": .1, "b": .85, "c": .05}),
        Prediction(None, probs={"a": .4, "b": .35, "c": .25}, status="no_label"),
        Prediction("a", probs={"a": .55, "b": .05, "c": .4})]


def test_accuracy_counts_no_label_as_wrong():
    assert Accuracy().evaluate(GOLD, PRED, LABELS) == {"accuracy": pytest.approx(3 / 6)}


def test_per_class_and_f1_by_hand():
    # a: tp 2, fp 1 (c->a), fn 1 -> P 2/3 R 2/3 F1 2/3;  b: tp 1, fp 1, fn 1 -> 1/2;  c: tp 0 -> 0
    per = PerClass().evaluate(GOLD, PRED, LABELS)["per_class"]
    assert per["a"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert per["b"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})
    assert per["c"] == pytest.approx({"precision": 0, "recall": 0, "f1": 0, "support": 1})
    f1 = F1().evaluate(GOLD, PRED, LABELS)
    assert f1["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert f1["f1_weighted"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 0) / 6)


def test_macro_f1_leaves_out_a_class_neither_held_nor_predicted():
    """A split without any ``d`` (never predicted) scores as if ``d`` were not a label (scikit-learn's default);
    a predicted ``d`` the split lacks counts as a class scored 0."""
    plain = F1().evaluate(GOLD, PRED, LABELS)
    assert F1().evaluate(GOLD, PRED, [*LABELS, "d"]) == pytest.approx(plain)
    wrong_d = [*PRED[:-1], Prediction("d", probs={})]  # c -> d: a now tp 2, fp 0, fn 1 (F1 4/5)
    assert F1().evaluate(GOLD, wrong_d, [*LABELS, "d"])["f1_macro"] == pytest.approx((4 / 5 + 1 / 2 + 0 + 0) / 4)


def test_confusion_matrix_has_a_no_label_column():
    cm = Confusion().evaluate(GOLD, PRED, LABELS)["confusion_matrix"]
    assert cm["predicted"] == ["a", "b", "c", "(none)"]
    assert cm["counts"] == [[2, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]]


def test_expected_calibration_error_by_hand():
    # top-label confidence / correct: .9 T, .6 T, .65 F, .85 T, .4 F (no label), .55 F
    # 10 bins: (.3,.4] {.4 F}; (.5,.6] {.6 T, .55 F}; (.6,.7] {.65 F}; (.8,.9] {.9 T, .85 T}
    ece = (1 * abs(0 - .4) + 2 * abs(.5 - .575) + 1 * abs(0 - .65) + 2 * abs(1 - .875)) / 6
    result = Calibration().evaluate(GOLD, PRED, LABELS)
    assert result["ece"] == pytest.approx(ece)
    assert [b["count"] for b in result["calibration_bins"]] == [1, 2, 1, 2]


def test_calibration_needs_probabilities():
    assert Calibration().evaluate(GOLD, [Prediction("a")] * 6, LABELS) == {}


def test_coverage_and_selective_accuracy():
    assert Coverage().evaluate(GOLD, PRED, LABELS) == {"coverage": pytest.approx(5 / 6),
                                                       "selective_accuracy": pytest.approx(3 / 5)}


def test_reports_write_their_figures(tmp_path):
    confusion = Confusion().report(Confusion().evaluate(GOLD, PRED, LABELS), tmp_path)
    assert "| a | 2 | 1 | 0 | 0 |" in confusion and "![confusion matrix](confusion_matrix.png)" in confusion
    calibration = Calibration()
    assert "![reliability diagram](reliability.png)" in calibration.report(calibration.evaluate(GOLD, PRED, LABELS),
                                                                            tmp_path)
    for png in ("confusion_matrix.png", "reliability.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
