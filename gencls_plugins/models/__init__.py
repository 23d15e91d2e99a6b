"""Model sources: Hugging Face hub ids or folders, local GGUF files, and the bundled SmolLM2."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.models.gguf import GGUFModel
from gencls_plugins.models.hub import HubModel
from gencls_plugins.models.smollm2 import SmolLM2


@hookimpl
def gencls_register_model_sources(register):
    register(HubModel)
    register(GGUFModel)
    register(SmolLM2)


@hookimpl
def gencls_default_components():
    return {"model": "smollm2-135m-instruct"}
