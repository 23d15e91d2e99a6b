"""Label schemes: how classes are written in the model's answer (names, numbers, plus an uncertain class)."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.labels.numeric import NumericLabels
from gencls_plugins.labels.uncertain import UncertainLabels


@hookimpl
def gencls_register_label_schemes(register):
    register(NameLabels)
    register(NumericLabels)
    register(UncertainLabels)


@hookimpl
def gencls_default_components():
    return {"labels": "names"}
