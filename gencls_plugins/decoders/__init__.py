"""Decoders: free generation with label parsing, and perplexity (likelihood) scoring of each label."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.decoders.generate import Generate
from gencls_plugins.decoders.perplexity import Perplexity


@hookimpl
def gencls_register_decoders(register):
    register(Generate)
    register(Perplexity)


@hookimpl
def gencls_default_components():
    return {"decoder": "perplexity"}
