"""Evaluators: accuracy and macro-F1 (unparseable answers count as wrong)."""

from gencls_core import hookimpl
from gencls_plugins.evaluators.metrics import Accuracy, MacroF1


@hookimpl
def gencls_register_evaluators(register):
    register(Accuracy)
    register(MacroF1)
