"""Label schemes: how classes are written in the model's answer."""

from gencls_core import hookimpl
from gencls_plugins.labels.names import NameLabels


@hookimpl
def gencls_register_label_schemes(register):
    register(NameLabels)
