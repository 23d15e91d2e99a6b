"""Evaluators: accuracy, F1, per-class scores, confusion matrix, calibration, coverage; label-set metrics for
multi-label data."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.evaluators.metrics import F1, Accuracy, Calibration, Confusion, Coverage, PerClass
from gencls_plugins.evaluators.multilabel import MultiLabel


@hookimpl
def gencls_register_evaluators(register):
    for evaluator in (Accuracy, F1, PerClass, Confusion, Calibration, Coverage, MultiLabel):
        register(evaluator)


@hookimpl
def gencls_default_components():
    return {"evaluators": ["accuracy", "f1", "per-class", "confusion", "calibration", "coverage", "multi-label"]}
